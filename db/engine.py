"""The engine factory (pooled, or one unpooled job connection), built lazily from the settings."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine, pool
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


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Engine:
    """A new pooled engine for `url`: the one place engines are built."""
    return create_engine(
        sqlalchemy_url(url), pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow
    )


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
