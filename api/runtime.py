"""What one API process holds: the engine, the read model view, the loaded model, readiness.

Requests read two references, each replaced whole and never mutated: `view` (the mapped
read model plus this worker's overlay of changes: item-to-item, more-like-these and the
vector legs need only this) and `serving` (the model's embedder and query encoder, for
semantic queries). A request reads each once and keeps it, so a swap never changes
anything under it. `database_up` and `fresh` follow the refresher's connection: while
Postgres is unreachable, requests that need it fail fast (503) and read-model answers say
they are stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.pool import QueuePool

from api import routing
from api.ann_index import IndexOptions
from api.errors import NotReady, outage_log
from api.fast_reads import PRIMARY, FastReads, replica_url
from api.memory import freeze_long_lived
from api.metrics import Metrics
from api.outage import DatabaseUnavailable
from api.readmodel import (
    Meta,
    ReadModel,
    build_lock,
    current_meta,
    database_key,
    next_version,
    open_version,
    write_version,
)
from api.view import View
from db import read_model as rm
from db.embeddings import ModelInfo
from db.engine import database_url, make_engine, recycle_connections
from db.recs.warm import warm_connection
from db.router import Router
from db.settings import Settings
from jobs.embedder import Embedder, QueryEncoder, check_dimension
from jobs.engines import query_engine

log = logging.getLogger(__name__)

EmbedderFactory = Callable[[ModelInfo], Embedder]
# Seconds a request waits for a connection to Postgres (or a pooled one) before it fails.
CONNECT_TIMEOUT = 2
# A pooled connection idle longer than this is tested at checkout (db/engine.py).
IDLE_PING_SECONDS = 1.0
# Warmed at each (re)connection: the pool's size, what c=8 and the background tasks hold.
WARM_CONNECTIONS = 10


def default_embedder_factory(settings: Settings) -> EmbedderFactory:
    """The fastest engine for the active model's version (ONNX without torch when exported)."""

    def load(model: ModelInfo) -> Embedder:
        return query_engine(model.path or settings.model_path, model.name)

    return load


@dataclass(frozen=True, eq=False)
class Serving:
    """The active model's embedder and query encoder (semantic queries need them)."""

    model: ModelInfo
    embedder: Embedder
    encoder: QueryEncoder


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        embedder_factory: EmbedderFactory | None = None,
        lazy: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.embedder_factory = embedder_factory or default_embedder_factory(settings)
        self.lazy = lazy
        self.metrics = metrics or Metrics()
        # Filtered semantic queries on asyncio connections (api/fast_reads.py).
        self.fast = FastReads(
            settings.query_slots,
            connect_timeout=CONNECT_TIMEOUT,
            wait_timeout=CONNECT_TIMEOUT,
            idle_ping=IDLE_PING_SECONDS,
            on_wait=self.metrics.slot_wait.observe,
        )
        self.view: View | None = None
        self.serving: Serving | None = None
        self.load_error: str | None = None
        self.listening = False
        self.database_up = True  # until the refresher finds otherwise
        self.fresh = False  # the view has every change the database notified
        self.down_since: float | None = None
        self.last_check: float | None = None
        self.started_at = time.time()
        self._engine: Engine | None = None
        self._router: Router | None = None
        self._url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.load_requested = asyncio.Event()
        # Set by the refresher: re-read some items and put them in the overlay now.
        self.reread: Callable[[list[int]], Coroutine[Any, Any, None]] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Called from the lifespan: build the engine (no connection yet), remember the loop."""
        self._loop = asyncio.get_running_loop()
        self.load_requested = asyncio.Event()
        if not self.lazy:
            self.load_requested.set()
        self._url = database_url(self.settings)
        self._engine = make_engine(
            self._url,
            max_overflow=20,
            pool_timeout=CONNECT_TIMEOUT,
            connect_timeout=CONNECT_TIMEOUT,
            # Test connections idle over a second, not every checkout (a round trip each).
            pre_ping=IDLE_PING_SECONDS,
        )
        self._router = routing.build_router(self.settings, self._engine, self.metrics)

    def close(self) -> None:
        if self._router is not None:
            self._router.dispose()
        if self._engine is not None:
            self._engine.dispose()
        self.metrics.close()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the app has not started (lifespan not entered)")
        return self._engine

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the app has not started (lifespan not entered)")
        return self._url

    def fail_fast(self) -> None:
        """503 at once while the refresher finds the primary down (no connect timeout)."""
        if not self.database_up:
            outage_log.warning("db-down", "database unavailable: a request that needs it got 503")
            raise DatabaseUnavailable()

    def connect(self) -> Connection:
        """A pooled connection to the primary; fails fast (503) while it is down."""
        self.fail_fast()
        return self.engine.connect()

    @property
    def router(self) -> Router:
        if self._router is None:
            raise RuntimeError("the app has not started (lifespan not entered)")
        return self._router

    def read(self, min_lsn: int | None = None) -> AbstractContextManager[Connection]:
        """A read connection: a fit replica (DATABASE_REPLICA_URLS), else the primary."""
        if not self.router.replicas:  # replicas may answer while the primary is down
            self.fail_fast()
        return self.router.read(min_lsn)

    def write(self) -> AbstractContextManager[Connection]:
        """A transaction on the primary; its commit LSN goes back in the X-Pgrec-LSN header."""
        self.fail_fast()
        return self.router.write()

    @property
    def uptime(self) -> float:
        return time.time() - self.started_at

    @property
    def readmodel_root(self) -> Path:
        base = self.settings.readmodel_dir or self.settings.data_dir / "readmodel"
        return base / database_key(self.url)

    # -- readiness -------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.view is not None

    @property
    def stale(self) -> bool:
        """Answers from the view may miss changes: Postgres is unreachable or not caught up."""
        return not (self.database_up and self.fresh)

    def mark_database(self, up: bool) -> None:
        if up and not self.database_up:
            log.info("database reachable again after %.1fs", time.time() - (self.down_since or 0))
            self.down_since = None
            # No connection from before the outage is used again: the pool tests only those
            # idle over a second, and a server's shutdown leaves some that do not know yet.
            if self._engine is not None:
                recycle_connections(self._engine)
        elif not up and self.database_up:
            self.down_since = time.time()
            self.fresh = False
            self.fast.retire()  # reopened by the refresher's warm-up when it is back
        self.database_up = up

    def request_load(self) -> None:
        """Ask the refresher to load model and read model (lazy mode); safe from any thread."""
        if self.load_requested.is_set() or self._loop is None:
            return
        try:
            in_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:  # a worker thread (sync handler)
            in_loop = False
        if in_loop:
            self.load_requested.set()
        else:
            self._loop.call_soon_threadsafe(self.load_requested.set)

    def require_view(self) -> View:
        """The read model, or 503 + Retry-After (and a load is requested)."""
        view = self.view
        if view is None:
            self.request_load()
            why = f" (last attempt failed: {self.load_error})" if self.load_error else ""
            raise NotReady(f"the read model is still loading{why}")
        return view

    def require_serving(self) -> tuple[Serving, View]:
        """The model's encoder with a view of the same model, or 503 + Retry-After."""
        view, serving = self.require_view(), self.serving
        if serving is None or serving.model.name != view.model:
            self.request_load()
            why = f" (last attempt failed: {self.load_error})" if self.load_error else ""
            raise NotReady(f"the embedding model is still loading{why}")
        return serving, view

    def written(self, ids: list[int]) -> None:
        """After this process's own write committed (called from a handler's worker thread):
        show it in this worker's view before answering, without waiting for the NOTIFY."""
        if self.reread is None or self.view is None or self._loop is None or not ids:
            return
        try:
            done = asyncio.run_coroutine_threadsafe(self.reread(ids), self._loop)
            done.result(timeout=CONNECT_TIMEOUT * 2)
        except Exception as err:  # the NOTIFY of the same commit applies it anyway
            log.warning("could not apply a write to the read model at once: %s", err)

    # -- building (blocking: run these in a worker thread) ---------------------------------

    @property
    def nprobe(self) -> int:
        return self.settings.readmodel_ann_nprobe

    @property
    def index_options(self) -> IndexOptions:
        """Exact Flat or IVF-fp16 by catalog size (PGREC_READMODEL_ANN_*)."""
        return IndexOptions(ann_min_items=self.settings.readmodel_ann_min_items, nprobe=self.nprobe)

    def _index_fits(self, meta: Meta) -> bool:
        """The published version has the index kind the settings ask for at its size."""
        wanted = "ivf_fp16" if self.index_options.wants_ann(meta.vectors) else "flat"
        return meta.index_kind == wanted

    def load_base(self) -> ReadModel:
        """Map the published read model when it is current, else build and publish one.

        Under the build lock, in one REPEATABLE READ transaction: the fingerprint says
        whether the published version still describes the database; if not, everything
        is read in that same transaction. Workers after the first find it current.
        """
        started = time.perf_counter()
        root = self.readmodel_root
        with build_lock(root):
            # On a replica once it has replayed past the primary's position (the NOTIFY
            # that asked for this build came after the change's commit), else the primary.
            with rm.consistent_read_on(self.router.read_caught_up()) as conn:
                stamp = rm.fingerprint(conn=conn)
                meta = current_meta(root)
                if meta is not None and meta.fingerprint == stamp and self._index_fits(meta):
                    return open_version(root / f"v{meta.version:08d}", self.nprobe)
                catalog = rm.read_catalog(conn=conn)
            directory = write_version(
                root,
                catalog,
                version=next_version(root),
                started=started,
                options=self.index_options,
            )
        del catalog  # the build's rows: freed now; the refresher trims after the swap
        base = open_version(directory, self.nprobe)
        self.metrics.snapshot_builds.observe(time.perf_counter() - started)
        return base

    def warm_pool(self, connections: int = WARM_CONNECTIONS) -> int:
        """Open `connections` (at most the pool's size) connections at once on every read
        engine (the primary and the replicas) and warm each backend (db.recs.warm):
        otherwise a worker's first burst of concurrent queries meets fresh backends, 25-75 ms
        each while they compile the rec.* functions. Returns how many were warmed; an
        engine that fails is skipped."""
        view = self.view
        if view is None:
            return 0
        engines = [self.engine, *(replica.engine for replica in self.router.replicas)]
        warmed = 0
        for engine in engines:
            pool = engine.pool
            size = min(connections, pool.size()) if isinstance(pool, QueuePool) else 1
            try:
                with contextlib.ExitStack() as held:  # held at once: the pool's distinct ones
                    for _ in range(size):
                        conn = held.enter_context(engine.connect())
                        warm_connection(conn, model=view.model, dim=view.base.meta.dim)
                        warmed += 1
            except Exception as err:  # a replica behind, or down: the others still warm
                log.warning("could not warm the connections of %s: %s", engine.url, err)
        return warmed

    async def open_fast_reads(self) -> bool:
        """(Re)open the asyncio connections for filtered semantic queries, warmed: to the
        primary, or to each replica when reads go there."""
        view = self.view
        if view is None:
            return False
        replicas = self.router.replicas
        targets = {r.name: replica_url(r) for r in replicas} if replicas else {PRIMARY: self.url}
        return await self.fast.open(targets, view)

    def map_published(self) -> ReadModel | None:
        """The last published read model, without asking Postgres (which is unreachable):
        a restart during an outage still serves the read-model modes, flagged stale."""
        root = self.readmodel_root
        meta = current_meta(root)
        return None if meta is None else open_version(root / f"v{meta.version:08d}", self.nprobe)

    def changed(self, view: View, ids: list[int]) -> rm.ChangedRows:
        """The current rows and vectors of `ids`, read from Postgres (a caught-up replica)."""
        with self.router.read_caught_up() as conn:
            return rm.changed_rows(conn=conn, model=view.model, dim=view.base.meta.dim, ids=ids)

    def database_fingerprint(self) -> str:
        with self.engine.connect() as conn:
            stamp = rm.fingerprint(conn=conn)
        self.last_check = time.time()
        return stamp

    def encoder_for(self, model: ModelInfo) -> Serving:
        """The current encoder when the model is unchanged, else a newly loaded one."""
        current = self.serving
        if current is not None and current.model == model:
            return current
        log.info("loading embedder for model %s", model.name)
        embedder = self.embedder_factory(model)
        check_dimension(embedder, model.dim)
        return Serving(model=model, embedder=embedder, encoder=QueryEncoder(embedder))

    def swap(self, view: View) -> None:
        """Publish a new view: one reference assignment, atomic for every reader."""
        previous = self.view
        self.view = view
        self.load_error = None
        self.metrics.observe_snapshot(version=view.version, size=view.size, built_at=view.built_at)
        if previous is None or previous.base is not view.base:
            log.info(
                "read model v%d: %d items, %d vectors of %s (was v%s)",
                view.version,
                view.base.meta.items,
                view.base.meta.vectors,
                view.model,
                previous.version if previous else "-",
            )
            # A new base's lists and arrays live until the next one: out of full collections
            # (one full collection now, ~0.1 s at 40k items, once per base). The previous
            # view is let go first, so what only it held is freed, not frozen.
            del previous
            freeze_long_lived()
