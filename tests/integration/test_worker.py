"""The embedding jobs end to end on real Postgres, with a fake model standing in for the real
one: `pgrec embed` and `pgrec worker` as separate processes, concurrent, killed, woken."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text

from db import embeddings as store
from db.engine import make_engine
from jobs.embedder import FakeEmbedder
from jobs.worker import RunStats, drain, embed_batch

ROOT = Path(__file__).resolve().parents[2]
NETFLIX = ROOT / "data" / "netflix_sample.csv"
MODEL = "all-MiniLM-L6-v2"


@pytest.fixture
def engine(fresh_db_url: str) -> Iterator[Engine]:
    eng = make_engine(fresh_db_url)
    yield eng
    eng.dispose()


def use_fake_model(engine: Engine, latency: float = 0.0) -> None:
    """The default model's registration points at a fake of the same size (private DB)."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE embedding_models SET path = :p WHERE name = :m"),
            {"p": f"fake:384:{latency}", "m": MODEL},
        )


def insert_netflix(engine: Engine) -> int:
    with NETFLIX.open(newline="", encoding="utf-8") as f:
        rows = [
            {
                "e": "netflix:" + r["show_id"],
                "t": r["title"].strip(),
                "c": [c.strip() for c in r["listed_in"].split(",") if c.strip()],
                "d": r["description"].strip(),
            }
            for r in csv.DictReader(f)
        ]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO items (external_id, title, categories, description) "
                "VALUES (:e, :t, :c, :d)"
            ),
            rows,
        )
    return len(rows)


def insert_items(engine: Engine, n: int, prefix: str = "w") -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO items (external_id, title, description) "
                "SELECT :p || g, 'Item ' || g, 'plot ' || g FROM generate_series(1, :n) g"
            ),
            {"p": prefix, "n": n},
        )


def pgrec(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "pgrec", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out, err


def encoded(out: str) -> int:
    m = re.search(r"encoded=(\d+)", out)
    assert m, out
    return int(m.group(1))


def vector_rows(engine: Engine) -> dict[int, tuple[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT item_id, content_hash, embedded_at FROM item_embeddings WHERE model = :m"),
            {"m": MODEL},
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def assert_all_current(engine: Engine, items: int) -> None:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(*), count(e.item_id), count(*) FILTER "
                "(WHERE e.content_hash = i.content_hash) FROM items i "
                "LEFT JOIN item_embeddings e ON e.item_id = i.id AND e.model = :m"
            ),
            {"m": MODEL},
        ).one()
        extra = conn.execute(text("SELECT count(*) FROM item_embeddings")).scalar_one()
    assert tuple(row) == (items, items, items)
    assert extra == items  # one row per item and model: nothing twice, nothing orphaned


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - t0


def count_vectors(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM item_embeddings")).scalar_one())


def test_embed_all_then_nothing_then_exactly_the_changed(fresh_db_url: str, engine: Engine) -> None:
    use_fake_model(engine)
    n = insert_netflix(engine)
    out, err = finish(pgrec(fresh_db_url, "embed", "--batch-size", "200"))
    assert f"embedded {n} items" in out
    assert "embed start model=all-MiniLM-L6-v2 needed=2202" in err  # log lines: no TTY
    assert "embed done" in err and "rate=" in err
    assert_all_current(engine, n)

    before = vector_rows(engine)
    out, _ = finish(pgrec(fresh_db_url, "embed"))
    assert "embedded 0 items" in out and "encoded=0" in out
    assert vector_rows(engine) == before

    with engine.begin() as conn:
        changed = set(
            conn.execute(
                text(
                    "UPDATE items SET description = description || ' (restored)' "
                    "WHERE id IN (SELECT id FROM items ORDER BY md5(external_id) LIMIT 10) "
                    "RETURNING id"
                )
            ).scalars()
        )
    out, _ = finish(pgrec(fresh_db_url, "embed"))
    assert "embedded 10 items" in out and "encoded=10" in out
    after = vector_rows(engine)
    assert {i for i in after if after[i] != before[i]} == changed
    assert_all_current(engine, n)
    with engine.connect() as conn:
        runs = conn.execute(
            text("SELECT status, items FROM job_runs WHERE job = 'embed' ORDER BY id")
        ).all()
    assert [tuple(r) for r in runs] == [("ok", n), ("ok", 0), ("ok", 10)]


def test_two_workers_embed_each_item_exactly_once(fresh_db_url: str, engine: Engine) -> None:
    use_fake_model(engine, latency=0.003)  # ~6 s of "model time" to share
    insert_items(engine, 2000)
    procs = [pgrec(fresh_db_url, "embed", "--batch-size", "25") for _ in range(2)]
    outs = [finish(p, timeout=90)[0] for p in procs]
    counts = [encoded(o) for o in outs]
    assert sum(counts) == 2000, outs
    assert min(counts) > 0, "the two workers did not overlap"
    assert_all_current(engine, 2000)
    with engine.connect() as conn:
        per_run = conn.execute(
            text("SELECT items FROM job_runs WHERE job = 'embed' ORDER BY id")
        ).scalars()
        assert sorted(per_run) == sorted(counts)


def test_worker_killed_mid_run_loses_nothing(fresh_db_url: str, engine: Engine) -> None:
    use_fake_model(engine, latency=0.002)
    insert_items(engine, 2000)
    victim = pgrec(fresh_db_url, "embed", "--batch-size", "20")
    wait_until(lambda: count_vectors(engine) >= 100, 60, "the first batches")
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)
    assert victim.returncode == -signal.SIGKILL
    committed = count_vectors(engine)
    assert 100 <= committed < 2000
    out, _ = finish(pgrec(fresh_db_url, "embed", "--batch-size", "100"))
    # Exactly the uncommitted rest was encoded: the killed batch left nothing behind.
    assert encoded(out) == 2000 - committed
    assert_all_current(engine, 2000)
    with engine.connect() as conn:
        statuses = conn.execute(text("SELECT status FROM job_runs ORDER BY id")).scalars().all()
    assert statuses == ["running", "ok"]  # the killed run shows its last heartbeat


class BlockingEmbedder(FakeEmbedder):
    """Runs `during` in a thread while a batch is encoded, until that thread waits on a lock."""

    def __init__(self, engine: Engine, during: Callable[[], None]) -> None:
        super().__init__(dim=384)
        self.engine = engine
        self.during = during
        self.thread: threading.Thread | None = None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.thread is None:
            self.thread = threading.Thread(target=self.during)
            self.thread.start()
            wait_until(self._blocked, 10, "the concurrent change to wait for our row lock")
        return super().encode(texts)

    def _blocked(self) -> bool:
        with self.engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) > 0 FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            )


def _run(engine: Engine, sql: str) -> Callable[[], None]:
    def go() -> None:
        with engine.begin() as conn:
            conn.execute(text(sql))

    return go


def test_item_changed_or_deleted_in_flight_never_keeps_a_stale_vector(engine: Engine) -> None:
    insert_items(engine, 3)
    with engine.connect() as conn:
        model = store.get_model(conn)
        first, second, _ = conn.execute(text("SELECT id FROM items ORDER BY id")).scalars()
    changer = BlockingEmbedder(
        engine,
        _run(
            engine,
            f"UPDATE items SET description = 'changed mid-batch' WHERE id = {first}; "
            f"DELETE FROM items WHERE id = {second}",
        ),
    )
    stats = RunStats(model=MODEL)
    assert embed_batch(engine, changer, model, stats, batch_size=10) == 3
    assert changer.thread is not None
    changer.thread.join(timeout=10)
    # The change committed after our batch: the item is due again, the deleted one is gone.
    with engine.connect() as conn:
        due = [c.item_id for c in store.claim_batch(conn, model=MODEL, limit=10)]
        assert due == [first]
    drain(engine, FakeEmbedder(), model, stats, batch_size=10, stop=threading.Event())
    assert_all_current(engine, 2)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT embedding::text FROM item_embeddings WHERE item_id = :i"), {"i": first}
        ).scalar_one()
        current_text = conn.execute(
            text(
                "SELECT pgrec_embed_text(title, categories, tags, description) FROM items "
                "WHERE id = :i"
            ),
            {"i": first},
        ).scalar_one()
    assert "changed mid-batch" in current_text
    expected = FakeEmbedder().encode([current_text])[0]
    assert np.allclose(np.array(eval(stored), dtype=np.float32), expected)


def test_notify_wakes_a_running_worker_and_sigterm_stops_it(
    fresh_db_url: str, engine: Engine
) -> None:
    use_fake_model(engine)
    insert_items(engine, 5)
    worker = pgrec(fresh_db_url, "worker", "--poll-seconds", "300")
    try:
        # It listens before its first pass, so once these are done it is awake to NOTIFY.
        wait_until(lambda: count_vectors(engine) == 5, 60, "the worker's first pass")
        insert_items(engine, 1, prefix="late")
        took = wait_until(lambda: count_vectors(engine) == 6, 10, "NOTIFY to wake the worker")
        assert took < 5  # far below the 300 s poll: the notification woke it
        with engine.begin() as conn:
            conn.execute(text("UPDATE items SET title = 'Renamed' WHERE external_id = 'w1'"))
        wait_until(lambda: store_is_current(engine), 10, "the renamed item to be re-embedded")
    finally:
        worker.send_signal(signal.SIGTERM)
    out, err = finish(worker, timeout=20)
    assert "worker embedded 7 items for all-MiniLM-L6-v2" in out, err
    with engine.connect() as conn:
        run = conn.execute(text("SELECT job, status, items FROM job_runs")).one()
    assert tuple(run) == ("worker", "ok", 7)


def store_is_current(engine: Engine) -> bool:
    with engine.connect() as conn:
        return store.coverage(conn, model=MODEL).complete


class InFlightEmbedder(FakeEmbedder):
    """Its first two calls meet at a barrier (so they only return if two claims encode at
    once); with `fail_at`, that call raises instead."""

    def __init__(self, fail_at: int = 0) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=20)
        self.calls = 0
        self.fail_at = fail_at
        self.lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self.lock:
            self.calls += 1
            call = self.calls
        if call <= 2:
            self.barrier.wait()
        if call == self.fail_at:
            raise RuntimeError("model crashed")
        return super().encode(texts)


def test_two_claims_in_flight_overlap_and_embed_each_item_once(engine: Engine) -> None:
    insert_items(engine, 200)
    with engine.connect() as conn:
        model = store.get_model(conn)
    stats = RunStats(model=MODEL)
    embedder = InFlightEmbedder()
    drain(engine, embedder, model, stats, batch_size=20, stop=threading.Event(), in_flight=2)
    assert (stats.encoded, stats.written, stats.batches) == (200, 200, 10)
    assert_all_current(engine, 200)


def test_a_failing_claim_in_flight_stops_both_and_leaves_whole_batches(engine: Engine) -> None:
    insert_items(engine, 200)
    with engine.connect() as conn:
        model = store.get_model(conn)
    stats = RunStats(model=MODEL)
    with pytest.raises(RuntimeError, match="model crashed"):
        drain(
            engine,
            InFlightEmbedder(fail_at=3),
            model,
            stats,
            batch_size=20,
            stop=threading.Event(),
            in_flight=2,
        )
    # The failed batch rolled back; the others committed whole, and the run stopped early.
    assert count_vectors(engine) == stats.written
    assert stats.written % 20 == 0 and 40 <= stats.written < 200
