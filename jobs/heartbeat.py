"""One daemon thread per process that keeps the heartbeat of its open job runs current.

Runs register when they start and leave when they finish (jobs/worker.py, jobs/cooccurrence.py);
a batch or a refresh may take longer than the stall threshold, so the beat comes from a thread
of its own rather than from the work loop. A killed process stops beating, and the sweep
(db/job_runs.py) then marks its runs failed.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from db.job_runs import HEARTBEAT_SECONDS, beat

log = logging.getLogger(__name__)


class Heartbeats:
    """The runs this process has open, beaten every `every` seconds by a daemon thread."""

    def __init__(self, every: float = HEARTBEAT_SECONDS) -> None:
        self.every = every
        self._runs: dict[int, Engine] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, engine: Engine, run_id: int) -> None:
        with self._lock:
            self._runs[run_id] = engine
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="pgrec-job-heartbeat", daemon=True
                )
                self._thread.start()

    def remove(self, run_id: int) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def beat_now(self) -> None:
        """Beat every open run once (the thread's step; tests call it directly)."""
        with self._lock:
            runs = dict(self._runs)
        by_engine: dict[int, tuple[Engine, list[int]]] = {}
        for run_id, engine in runs.items():
            by_engine.setdefault(id(engine), (engine, []))[1].append(run_id)
        for engine, ids in by_engine.values():
            try:
                with engine.begin() as conn:
                    beat(conn, run_ids=ids)
            except DBAPIError as err:  # the database is away: the next beat tries again
                log.warning("job heartbeat failed for runs %s: %s", ids, err.orig)

    def _loop(self) -> None:
        while True:
            time.sleep(self.every)
            with self._lock:
                if not self._runs:
                    self._thread = None
                    return
            self.beat_now()


HEARTBEATS = Heartbeats()
