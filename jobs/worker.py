"""The embedding job: claim items that need a vector, encode, upsert, commit, repeat.

`run_embed` (`pgrec embed`) works until nothing is needed and returns; `run_worker`
(`pgrec worker`) keeps going, woken by NOTIFY pgrec_items with a periodic poll as fallback,
and with `refresh_every` also keeps co-occurrence and the ranker current when idle.
Any number of either may run on any number of machines: claims use FOR UPDATE SKIP LOCKED,
so no item is encoded twice, and a process that dies mid-batch only aborts its transaction.
Each process keeps `DEFAULT_IN_FLIGHT` claims going, so one batch's write overlaps the next
batch's encode.
Schedule: one `pgrec worker` per machine that has spare cores, always on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import Engine, exc

from db import embeddings as store
from db.embeddings import ModelInfo
from db.job_runs import record_batch
from jobs.embedder import Embedder, check_dimension
from jobs.engines import load_engine
from jobs.progress import NoProgress, Progress
from jobs.runner import job_connection, outcome, record_end, record_start

log = logging.getLogger(__name__)

# Items per transaction. A larger claim sorts into less padded model batches (on the Netflix
# texts: 1.35x the real token count in claims of 64, 1.2x in claims of 256), while row locks
# are held for the claim's encode time (~2-3 s for 256 on 2 cores).
DEFAULT_BATCH_SIZE = 256
# Claims in flight per process: while one batch writes and commits its vectors (~1 s per
# 1,000 items), the next one is already encoding, so the write no longer waits for the
# model nor the model for the write. Each is its own transaction, exactly as if two workers
# ran (SKIP LOCKED keeps their claims apart).
DEFAULT_IN_FLIGHT = 2
DEFAULT_POLL_SECONDS = 30.0
CHANNEL_ITEMS = "pgrec_items"
CHANNEL_VECTORS = "pgrec_vectors"
# Deadlocks and serialization failures, e.g. against an ingest that locks items in
# another order: the batch is simply retried.
RETRYABLE_SQLSTATES = {"40P01", "40001", "55P03"}


@dataclass
class RunStats:
    model: str
    encoded: int = 0  # texts handed to the model, including batches that failed to commit
    written: int = 0  # vectors committed
    batches: int = 0
    busy_seconds: float = 0.0
    run_id: int | None = None
    # Batches in flight share these stats: `lock` guards them, `last_end` is when a batch
    # last committed, so overlapping batches count each busy second once.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    last_end: float = 0.0

    @property
    def rate(self) -> float:
        return self.written / self.busy_seconds if self.busy_seconds > 0 else 0.0


Loader = Callable[[str | None, str | None], Embedder]


class Embedders:
    """Loaded models by name, checked against their registered dimension before first use."""

    def __init__(self, loader: Loader = load_engine) -> None:
        self._loader = loader
        self._loaded: dict[tuple[str, str | None], Embedder] = {}

    def get(self, model: ModelInfo) -> Embedder:
        key = (model.name, model.path)
        if key not in self._loaded:
            embedder = self._loader(model.path, model.name)
            check_dimension(embedder, model.dim)
            self._loaded[key] = embedder
        return self._loaded[key]


def _retryable(err: exc.DBAPIError) -> bool:
    return err.connection_invalidated or getattr(err.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def embed_batch(
    engine: Engine, embedder: Embedder, model: ModelInfo, stats: RunStats, *, batch_size: int
) -> int:
    """One transaction: claim, encode, upsert, count into the run; returns vectors written."""
    t0 = time.perf_counter()
    with engine.begin() as conn:
        claims = store.claim_batch(conn, model=model.name, limit=batch_size)
        if not claims:
            return 0
        with stats.lock:
            stats.encoded += len(claims)
        vectors = embedder.encode([c.text for c in claims])
        written = store.upsert_vectors(conn, model=model, claims=claims, vectors=vectors)
        with stats.lock:  # the time since this batch began or the last one ended: no overlap
            seconds = time.perf_counter() - max(t0, stats.last_end)
        if stats.run_id is not None:
            record_batch(conn, run_id=stats.run_id, items=written, seconds=seconds)
    with stats.lock:
        stats.written += written
        stats.batches += 1
        stats.busy_seconds += seconds
        stats.last_end = time.perf_counter()
    return written


def _drain_one(
    engine: Engine,
    embedder: Embedder,
    model: ModelInfo,
    stats: RunStats,
    *,
    batch_size: int,
    stops: tuple[threading.Event, ...],
    on_batch: Callable[[], None] | None,
) -> None:
    failures = 0
    while not any(s.is_set() for s in stops):
        try:
            written = embed_batch(engine, embedder, model, stats, batch_size=batch_size)
        except exc.DBAPIError as err:
            failures += 1
            if not _retryable(err) or failures > 5:
                raise
            log.warning("embed batch retried model=%s error=%s", model.name, err.orig)
            time.sleep(min(0.2 * 2**failures, 5.0))
            continue
        failures = 0
        if written == 0:
            return
        if on_batch is not None:
            with stats.lock:
                on_batch()


def drain(
    engine: Engine,
    embedder: Embedder,
    model: ModelInfo,
    stats: RunStats,
    *,
    batch_size: int,
    stop: threading.Event,
    on_batch: Callable[[], None] | None = None,
    in_flight: int = DEFAULT_IN_FLIGHT,
) -> None:
    """Embed batches until no needed item is left to claim (others may still hold some).

    `in_flight` claims run at once, each its own transaction with its own retries; the
    first failure stops the others after their current batch and is raised here.
    """
    if in_flight <= 1:
        _drain_one(
            engine, embedder, model, stats, batch_size=batch_size, stops=(stop,), on_batch=on_batch
        )
        return
    halt = threading.Event()

    def lane() -> None:
        try:
            _drain_one(
                engine,
                embedder,
                model,
                stats,
                batch_size=batch_size,
                stops=(stop, halt),
                on_batch=on_batch,
            )
        except BaseException:
            halt.set()
            raise

    with ThreadPoolExecutor(in_flight, thread_name_prefix="embed-claim") as pool:
        futures = [pool.submit(lane) for _ in range(in_flight)]
        for future in futures:  # waits for every lane; the first failure is raised
            future.result()


def run_embed(
    engine: Engine,
    *,
    model_name: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    embedders: Embedders | None = None,
    max_wait: float = 60.0,
) -> RunStats:
    """Embed every item that needs it for the model (default: the active one), then return.

    Items that other workers hold are waited for, so that on return nothing is needed; a
    worker that died mid-batch releases its items and this run takes them over. After
    `max_wait` seconds without progress (a long transaction holding items) it gives up.
    """
    progress = progress or NoProgress()
    stop = stop or threading.Event()
    with engine.connect() as conn:
        model = store.get_model(conn, name=model_name)
        needed = store.coverage(conn, model=model.name).needed
    embedder = (embedders or Embedders()).get(model)
    stats = RunStats(model=model.name)
    stats.run_id = record_start(engine, "embed", model.name)
    progress.start(model.name, needed)
    checked_at, written_at_check = time.monotonic(), 0

    def recount() -> int:
        nonlocal needed, checked_at, written_at_check
        with engine.connect() as conn:
            needed = store.coverage(conn, model=model.name).needed
        checked_at, written_at_check = time.monotonic(), stats.written
        return needed

    def report() -> None:
        # Counting what is left costs a scan: recount every few seconds, estimate between.
        if time.monotonic() - checked_at > 2.0:
            recount()
        progress.advance(stats.written, max(needed - (stats.written - written_at_check), 0))

    status, error = "failed", None
    try:
        idle_since = time.monotonic()
        while not stop.is_set():
            before = stats.written
            drain(engine, embedder, model, stats, batch_size=batch_size, stop=stop, on_batch=report)
            if recount() == 0:
                break
            if stats.written > before:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > max_wait:
                log.warning(
                    "embed gives up model=%s needed=%d: items held by other transactions",
                    model.name,
                    needed,
                )
                break
            stop.wait(0.5)  # the rest is claimed by others: wait for them to commit or die
        progress.advance(stats.written, needed)
        status = "interrupted" if stop.is_set() else "ok"
        return stats
    except BaseException as err:
        status, error = outcome(err)
        raise
    finally:
        progress.close()
        record_end(engine, stats.run_id, status, error)


def _is_wake_up(note: psycopg.Notify) -> bool:
    if note.channel == CHANNEL_ITEMS:
        return True
    # Our own commits announce vectors too; only a model switch changes the worker's job.
    try:
        return bool(json.loads(note.payload).get("reason") == "activated")
    except ValueError:
        return False


def wait_for_work(listener: psycopg.Connection, *, timeout: float, stop: threading.Event) -> bool:
    """Block until a relevant NOTIFY (True), the poll timeout or a stop request (False)."""
    deadline = time.monotonic() + timeout
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        # Short slices: a signal handler only sets `stop`, so check it at least every second.
        for note in listener.notifies(timeout=min(left, 1.0)):
            if _is_wake_up(note):
                return True
    return False


def run_worker(
    engine: Engine,
    *,
    listen_url: str,
    model_names: Sequence[str] = (),
    batch_size: int = DEFAULT_BATCH_SIZE,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    stop: threading.Event | None = None,
    embedders: Embedders | None = None,
    refresh_every: float | None = None,
) -> dict[str, RunStats]:
    """Keep the given models (default: whichever is active) embedded until `stop` is set.

    With `refresh_every` (seconds), an idle worker also runs `refresh_derived` that often.
    """
    stop = stop or threading.Event()
    embedders = embedders or Embedders()
    runs: dict[str, RunStats] = {}
    status, error = "failed", None
    listener: psycopg.Connection | None = None
    next_refresh = time.monotonic()  # the first idle moment refreshes
    try:
        while not stop.is_set():
            if listener is None or listener.closed:
                listener = _listen(listen_url)
            # Listening before draining: whatever changes meanwhile wakes the next wait.
            with engine.connect() as conn:
                targets = [store.get_model(conn, name=n) for n in model_names] or [
                    store.get_model(conn)
                ]
            for model in targets:
                stats = runs.get(model.name)
                if stats is None:
                    stats = runs[model.name] = RunStats(model=model.name)
                    stats.run_id = record_start(engine, "worker", model.name)
                    log.info("worker embeds model=%s run=%s", model.name, stats.run_id)
                before = stats.written
                drain(engine, embedders.get(model), model, stats, batch_size=batch_size, stop=stop)
                if stats.written > before:
                    log.info(
                        "worker embedded model=%s items=%d total=%d rate=%.1f/s",
                        model.name,
                        stats.written - before,
                        stats.written,
                        stats.rate,
                    )
            timeout = poll_seconds
            if refresh_every is not None and not stop.is_set():
                if time.monotonic() >= next_refresh:
                    refresh_derived(listen_url)
                    next_refresh = time.monotonic() + refresh_every
                timeout = max(0.0, min(poll_seconds, next_refresh - time.monotonic()))
            try:
                wait_for_work(listener, timeout=timeout, stop=stop)
            except psycopg.OperationalError:
                log.warning("worker lost its LISTEN connection; reconnecting")
                listener.close()
                stop.wait(1.0)
        status = "ok"
        return runs
    except BaseException as err:
        status, error = outcome(err)
        raise
    finally:
        if listener is not None:
            listener.close()
        for stats in runs.values():
            record_end(engine, stats.run_id, status, error)


def refresh_derived(url: str) -> None:
    """Co-occurrence, then the ranker: each does nothing when the interactions are unchanged.

    A failure is logged, not raised: the worker's first job is keeping vectors current.
    """
    # Imported here: scipy, faiss and scikit-learn load only for a worker that refreshes.
    from jobs.cooccurrence import refresh_cooccurrence, stored_params
    from jobs.ranker import train_ranker

    try:
        with job_connection(url) as conn:
            params = stored_params(conn)  # keep what the operator last ran with
        refresh_cooccurrence(
            url=url, k=params.k, shrinkage=params.shrinkage, min_users=params.min_users
        )
        train_ranker(url)
    except ValueError as err:  # e.g. too few users with enough likes yet
        log.info("worker refresh: %s", err)
    except Exception:
        log.exception("worker refresh failed; trying again at the next --refresh-every")


def _listen(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(f"LISTEN {CHANNEL_ITEMS}")
    conn.execute(f"LISTEN {CHANNEL_VECTORS}")
    return conn
