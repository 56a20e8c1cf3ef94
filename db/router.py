"""Read/write routing: reads to a healthy streaming replica (round robin), writes to the primary.

`Router.read()` hands out a connection on the next replica that answers, is in recovery and
has replayed to within `max_lag_bytes` of the primary's WAL position; a replica that fails
is skipped for `retry_after` seconds, one that lags for `lag_recheck` seconds at a time. With a
read-your-writes token (the commit LSN a write answered with, from `min_lsn=` or the
REQUEST_LSN context variable) a replica serves only once `pg_last_wal_replay_lsn()` has
reached it; else the primary answers. `Router.write()` is a transaction on the primary whose
commit LSN is reported to the LSN_SINK context variable (the API turns it into a header).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from db.engine import make_engine

_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")

# Set per request by the API: the LSN a client must see, and where a write's LSN goes.
REQUEST_LSN: ContextVar[int | None] = ContextVar("pgrec_request_lsn", default=None)


@dataclass
class LsnSink:
    lsn: int | None = None


LSN_SINK: ContextVar[LsnSink | None] = ContextVar("pgrec_lsn_sink", default=None)

RouteHook = Callable[[str, str], None]  # (target, reason)
HealthHook = Callable[[str, bool, int | None], None]  # (replica, usable, lag bytes)


def parse_lsn(text: str) -> int:
    """'16/B374D848' -> its 64-bit position; ValueError when it is not an LSN."""
    text = text.strip()
    if not _LSN.match(text):
        raise ValueError(f"not a WAL position (LSN) like '0/16B3748': {text[:40]!r}")
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def redact(url: str) -> str:
    """host[:port]/database of a URL, without user or password."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or [""])[0]
    port = parts.port or (query.get("port") or [""])[0]
    return f"{host}{':' + str(port) if port else ''}{parts.path}"


@dataclass
class Replica:
    name: str
    where: str
    engine: Engine
    usable: bool = True
    reason: str = "unchecked"
    retry_at: float = 0.0
    replay_lsn: int | None = None
    lag_bytes: int | None = None
    checked_at: float | None = None
    reads: int = 0
    failures: int = 0
    error: str | None = None  # the last connection failure


@dataclass
class Router:
    primary: Engine
    replicas: list[Replica] = field(default_factory=list)
    max_lag_bytes: int = 16 * 1024 * 1024
    retry_after: float = 5.0  # a failed or promoted replica is skipped this long
    lag_recheck: float = 1.0  # a lagging one is looked at again after this
    primary_lsn_interval: float = 0.5
    on_route: RouteHook | None = None
    on_health: HealthHook | None = None
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _turn: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _primary_lsn: tuple[float, int] | None = None

    @classmethod
    def from_urls(cls, primary: Engine, replica_urls: Sequence[str], **options: Any) -> Router:
        replicas = [
            Replica(
                name=f"replica{i}",
                where=redact(url),
                engine=make_engine(
                    url,
                    max_overflow=20,
                    # Every checkout runs the health query below, which is also the ping.
                    pre_ping=False,
                    connect_args={"connect_timeout": 2, "application_name": "pgrec-api-read"},
                ),
            )
            for i, url in enumerate(replica_urls, start=1)
        ]
        return cls(primary=primary, replicas=replicas, **options)

    def dispose(self) -> None:
        for replica in self.replicas:
            replica.engine.dispose()

    # -- reads -------------------------------------------------------------------------------

    @contextmanager
    def read(self, min_lsn: int | None = None) -> Iterator[Connection]:
        """A connection for reading: a replica that is fit (and has `min_lsn`), else the primary."""
        wanted = REQUEST_LSN.get() if min_lsn is None else min_lsn
        conn, reason = self._replica_connection(wanted)
        if conn is None:
            self._count("primary", reason)
            with self.primary.connect() as primary:
                yield primary
            return
        with conn:
            yield conn

    @contextmanager
    def read_caught_up(self, *, wait: float = 1.0, poll: float = 0.02) -> Iterator[Connection]:
        """A read that sees everything committed on the primary before the call: a replica
        once it has replayed past the primary's WAL insert position read now (waiting up to
        `wait` s for one to get there), else the primary.

        For read-model builds and re-reads: they follow a NOTIFY, which only the primary
        sends (a standby cannot LISTEN), after the change's commit, so the position read
        here is past the change. Counted as (replicaN, "build") or (primary, "build_lag" |
        "build_unhealthy").
        """
        if not self.replicas:
            with self.primary.connect() as only:
                yield only
            return
        target = self._insert_lsn()
        deadline = time.monotonic() + wait
        conn, reason = self._replica_connection(target, label="build")
        while conn is None and reason == "read_your_writes" and time.monotonic() < deadline:
            time.sleep(poll)  # replay is usually milliseconds behind
            conn, reason = self._replica_connection(target, label="build")
        if conn is None:
            lagging = reason == "read_your_writes"
            self._count("primary", "build_lag" if lagging else "build_" + reason)
            with self.primary.connect() as primary:
                yield primary
            return
        with conn:
            yield conn

    def recently_fit(self, wanted: int | None) -> Replica | None:
        """Without a round trip: the next replica that a read's health query found usable
        within the last `lag_recheck` seconds and, with `wanted`, replayed past it. For the
        API's asyncio reads; None sends them to `read()`, whose checks keep this fresh."""
        now = time.time()
        start = next(self._turn)
        for offset in range(len(self.replicas)):
            replica = self.replicas[(start + offset) % len(self.replicas)]
            checked = replica.checked_at
            if not replica.usable or checked is None or now - checked > self.lag_recheck:
                continue
            if wanted is None or (replica.replay_lsn or 0) >= wanted:
                return replica
        return None

    def counted_read(self, replica: Replica) -> None:
        """A read that `replica` answered outside `read()`."""
        replica.reads += 1
        self._count(replica.name, "read")

    def failed(self, replica: Replica, error: str) -> None:
        """A replica that failed a read outside `read()`: skipped for `retry_after`."""
        replica.failures += 1
        replica.error = error.strip()[:200]
        self._mark(replica, False, "failed", self.retry_after)

    def _insert_lsn(self) -> int:
        with self.primary.connect() as conn:
            value = conn.exec_driver_sql("SELECT pg_current_wal_insert_lsn()::text").scalar_one()
        return parse_lsn(str(value))

    def _replica_connection(
        self, wanted: int | None, label: str = "read"
    ) -> tuple[Connection | None, str]:
        if not self.replicas:
            return None, "no_replicas"
        reason = "unhealthy"
        start = next(self._turn)
        now = time.monotonic()
        for offset in range(len(self.replicas)):
            replica = self.replicas[(start + offset) % len(self.replicas)]
            if not replica.usable and now < replica.retry_at:
                continue
            conn = self._checked(replica)
            if conn is None:
                continue
            if wanted is not None and (replica.replay_lsn or 0) < wanted:
                conn.close()
                reason = "read_your_writes"
                continue
            replica.reads += 1
            self._count(replica.name, label)
            return conn, ""
        return None, reason

    def _checked(self, replica: Replica) -> Connection | None:
        """A connection on `replica` after the health query, or None (and why, in the state)."""
        conn: Connection | None = None
        try:
            conn = replica.engine.connect()
            row = conn.exec_driver_sql(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text"
            ).one()
            conn.rollback()  # end the implicit transaction: the caller starts fresh
        except DBAPIError as err:
            if conn is not None:
                conn.close()
            self.failed(replica, str(err.orig))
            return None
        in_recovery, replay = bool(row[0]), row[1]
        replica.replay_lsn = parse_lsn(replay) if replay else None
        primary_lsn = self._primary_lsn_or_none()
        replica.lag_bytes = (
            max(0, primary_lsn - replica.replay_lsn)
            if replica.replay_lsn is not None and primary_lsn is not None
            else None
        )
        if not in_recovery:
            self._mark(replica, False, "not_in_recovery", self.retry_after)
        elif replica.replay_lsn is None or (replica.lag_bytes or 0) > self.max_lag_bytes:
            self._mark(replica, False, "lagging", self.lag_recheck)
        else:
            self._mark(replica, True, "ok")
            return conn
        conn.close()
        return None

    def _mark(self, replica: Replica, usable: bool, reason: str, skip_for: float = 0.0) -> None:
        replica.usable, replica.reason = usable, reason
        replica.retry_at = time.monotonic() + skip_for
        replica.checked_at = time.time()
        if self.on_health is not None:
            self.on_health(replica.name, usable, replica.lag_bytes)

    def _primary_lsn_or_none(self) -> int | None:
        """The primary's position, or the last one known while the primary is unreachable
        (replicas keep serving reads then; their lag is unknown until it is back)."""
        try:
            return self.primary_lsn()
        except DBAPIError:
            return self._primary_lsn[1] if self._primary_lsn is not None else None

    def primary_lsn(self) -> int:
        """The primary's WAL insert position, re-read at most every `primary_lsn_interval` s."""
        cached = self._primary_lsn
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.primary_lsn_interval:
            return cached[1]
        lsn = self._insert_lsn()
        self._primary_lsn = (now, lsn)
        return lsn

    # -- writes ------------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction on the primary; after its commit the WAL position goes to LSN_SINK."""
        with self.primary.connect() as conn:
            with conn.begin():
                yield conn
            sink = LSN_SINK.get()
            if sink is not None:
                value = conn.exec_driver_sql("SELECT pg_current_wal_insert_lsn()::text").scalar()
                conn.rollback()
                sink.lsn = parse_lsn(str(value))

    # -- reporting ---------------------------------------------------------------------------

    def _count(self, target: str, reason: str) -> None:
        with self._lock:
            self.counts[(target, reason)] += 1
        if self.on_route is not None:
            self.on_route(target, reason)

    def status(self) -> dict[str, Any]:
        """Replicas (where, usable, lag) and read counts by target and reason, for /status."""
        with self._lock:
            counts = [
                {"target": t, "reason": r, "reads": n} for (t, r), n in sorted(self.counts.items())
            ]
        return {
            "replicas": [
                {
                    "name": r.name,
                    "where": r.where,
                    "usable": r.usable,
                    "state": r.reason,
                    "lag_bytes": r.lag_bytes,
                    "replay_lsn": None if r.replay_lsn is None else format_lsn(r.replay_lsn),
                    "reads": r.reads,
                    "failures": r.failures,
                    "last_error": r.error,
                }
                for r in self.replicas
            ],
            "max_lag_bytes": self.max_lag_bytes,
            "reads": counts,
        }
