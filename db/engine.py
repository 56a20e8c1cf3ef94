"""The engine factory (pooled, or one unpooled job connection), built lazily from the settings."""

from __future__ import annotations

import time
import weakref
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, pool
from sqlalchemy.orm import Session, sessionmaker

from db import embedded
from db.settings import Settings, get_settings


def sqlalchemy_url(url: str) -> str:
    """Point a libpq-style URL at SQLAlchemy's psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {url!r}")


def libpq_url(url: str) -> str:
    """The same URL as psql and psycopg.connect() want it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def database_url(settings: Settings | None = None) -> str:
    """DATABASE_URL when set; otherwise the embedded server, started on first use."""
    settings = settings or get_settings()
    if settings.database_url:
        return libpq_url(settings.database_url)
    return embedded.start(settings.pgdata_dir)


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    connect_timeout: int | None = None,
    pre_ping: bool | float = True,
    connect_args: dict[str, Any] | None = None,
) -> Engine:
    """A new pooled engine for `url`: the one place engines are built. The API bounds its
    waits (`pool_timeout`, `connect_timeout` seconds) so an outage answers 503, not a hang.

    `pre_ping`: True tests every connection at checkout (a round trip each time); a number
    tests only those idle in the pool longer than that many seconds (see `_ping_when_idle`).
    """
    args = dict(connect_args or {})
    if connect_timeout is not None:
        args["connect_timeout"] = connect_timeout
    idle_ping = pre_ping is not True and pre_ping is not False
    engine = create_engine(
        sqlalchemy_url(url),
        pool_pre_ping=pre_ping is True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        # Last in, first out: the connections in use stay the same few, so they stay
        # within the idle threshold; the others idle out and are tested before reuse.
        pool_use_lifo=idle_ping,
        connect_args=args,
    )
    if idle_ping:
        _ping_when_idle(engine, float(pre_ping))
    return engine


_IDLE_SINCE = "pgrec_idle_since"
_RECYCLE_BEFORE: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def recycle_connections(engine: Engine) -> None:
    """Replace every connection `engine` opened before now at its next checkout (those in
    use finish first): after an outage, none from before the server stopped is reused.
    Only for engines made with a numeric `pre_ping`."""
    _RECYCLE_BEFORE[engine] = time.time()


def _ping_when_idle(engine: Engine, seconds: float) -> None:
    """Test a pooled connection at checkout only when it sat idle over `seconds`.

    A ping on every checkout was one more round trip on each request the API sends to
    Postgres. Under load connections come back within milliseconds, and a connection that
    was just used is almost surely alive; one that broke anyway fails its statement, which
    SQLAlchemy reports as a disconnect and answers by invalidating the whole pool (so its
    siblings reconnect at their next checkout), and the API answers that request 503. A
    connection idle longer (a server restarted meanwhile) is tested first, and replaced
    when dead: the pool's documented pessimistic recipe (DisconnectionError -> reconnect).
    One opened before `recycle_connections(engine)` is replaced whatever its age: the API
    calls it when Postgres is back after an outage, because a server's shutdown can leave
    connections that do not know it yet and were used within the threshold.
    """

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _stamp(dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()  # a new connection was just tested

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        if record.starttime < _RECYCLE_BEFORE.get(engine, 0.0):
            raise exc.DisconnectionError("opened before recycle_connections()")
        since = record.info.get(_IDLE_SINCE)
        if since is not None and time.monotonic() - since <= seconds:
            return
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT 1")
            if not dbapi_conn.autocommit:
                dbapi_conn.rollback()
        except Exception as err:
            raise exc.DisconnectionError(str(err)) from err


def job_engine(url: str | None = None) -> Engine:
    """An engine of one unpooled connection: closing it ends the session and its locks."""
    return create_engine(sqlalchemy_url(url or database_url()), poolclass=pool.NullPool)


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database."""
    return _engine_for(database_url(settings))


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)
