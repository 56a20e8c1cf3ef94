"""db/engine.py's ping-when-idle pool on a real server: a connection killed while idle in the
pool is replaced at checkout, one reused at once is not pinged, and a broken one that was
not pinged fails its statement as a disconnect, after which the pool recovers by itself; one
opened before recycle_connections() is replaced without a ping."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from db.engine import make_engine, recycle_connections

IDLE = 0.3  # the first test waits past it
LONG = 600.0  # the others must stay within it whatever the machine's speed


@pytest.fixture
def idle_pinged(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=1, max_overflow=0, pre_ping=IDLE)
    yield engine
    engine.dispose()


@pytest.fixture
def never_idle(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=1, max_overflow=0, pre_ping=LONG)
    yield engine
    engine.dispose()


def _pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(engine: Engine, pid: int) -> None:
    with engine.connect() as conn:  # another engine's session
        conn.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})


def test_a_connection_killed_while_idle_is_replaced_at_checkout(
    idle_pinged: Engine, engine: Engine
) -> None:
    first = _pid(idle_pinged)
    _kill(engine, first)
    time.sleep(IDLE * 2)  # idle longer than the threshold: the checkout tests it
    second = _pid(idle_pinged)  # no error: the dead one was replaced before use
    assert second != first


def test_a_connection_reused_at_once_is_not_pinged_and_a_broken_one_recovers(
    never_idle: Engine, engine: Engine
) -> None:
    first = _pid(never_idle)
    _kill(engine, first)
    # Within the idle threshold: not tested, so the statement meets the dead connection.
    with pytest.raises(DBAPIError) as failed, never_idle.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert failed.value.connection_invalidated
    assert _pid(never_idle) != first  # the next checkout connects anew, no error


def test_connections_opened_before_a_recycle_are_replaced(never_idle: Engine) -> None:
    first = _pid(never_idle)
    assert _pid(never_idle) == first  # reused while fresh: the same backend
    recycle_connections(never_idle)
    second = _pid(never_idle)
    assert second != first
    assert _pid(never_idle) == second  # only those from before the call
