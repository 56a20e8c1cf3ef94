"""Alembic environment: migrates DATABASE_URL, or the embedded PostgreSQL when it is unset."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

import db.models  # noqa: F401  (registers every table on Base.metadata)
from db.base import Base
from db.engine import database_url, sqlalchemy_url
from db.migrate import refuse_squashed

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

# Objects that exist on purpose outside the models: per-model HNSW indexes created by
# `pgrec models add/activate`, and the SQL-only schema `rec` (functions and views).
_UNMANAGED_INDEX_PREFIX = "ix_item_embeddings_hnsw_"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "index" and name and name.startswith(_UNMANAGED_INDEX_PREFIX):
        return False
    return not (type_ == "table" and getattr(obj, "schema", None) == "rec")


def _url() -> str:
    # A test or tool may hand over a URL (or a live connection) through config.attributes.
    given = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return sqlalchemy_url(given or database_url())


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Any) -> None:
    refuse_squashed(connection)  # an upgrade stop: 0001-0014 live in the previous release
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
