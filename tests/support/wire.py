"""What goes over the wire to Postgres, from libpq's own trace (no timers, no mocks):
tests that pin how many round trips a request costs use `traced`."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, event


@dataclass
class Wire:
    path: Path
    lines: list[str] = field(default_factory=list)

    @property
    def round_trips(self) -> int:
        """Every exchange ends with the server's ReadyForQuery."""
        return sum(1 for line in self.lines if line.startswith("B") and "ReadyForQuery" in line)

    def sent(self, message: str) -> list[str]:
        """The frontend messages of one type ("Query", "Parse"), as traced."""
        return [line for line in self.lines if line.startswith("F") and f"\t{message}\t" in line]


@contextmanager
def traced(engine: Engine) -> Iterator[Wire]:
    """Trace every connection this thread checks out of `engine` while inside; the lines
    are in `Wire.lines` afterwards (other threads' connections are left alone)."""
    me = threading.get_ident()
    fd, name = tempfile.mkstemp(prefix="pgrec-wire-")
    wire = Wire(Path(name))
    on: list[Any] = []

    def checkout(dbapi_conn: psycopg.Connection[Any], record: Any, proxy: Any) -> None:
        if threading.get_ident() == me:
            dbapi_conn.pgconn.trace(os.dup(fd))
            dbapi_conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            on.append(dbapi_conn)

    def checkin(dbapi_conn: psycopg.Connection[Any], record: Any) -> None:
        if dbapi_conn in on:
            on.remove(dbapi_conn)
            dbapi_conn.pgconn.untrace()  # flushes

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield wire
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)
        for conn in on:
            conn.pgconn.untrace()
        os.close(fd)
        wire.lines = wire.path.read_text().splitlines()
        wire.path.unlink()
