"""Test harness: one real PostgreSQL per test session, schema built once into a template.

- `db_url`: a database cloned from the migrated template for this session (shared).
- `conn`: a connection inside a transaction that is rolled back after the test; code under
  test that opens transactions on it gets savepoints (nothing it commits is kept).
- `session`: an ORM session on `conn` (join_transaction_mode="create_savepoint").
- `fresh_db_url`: a private database cloned from the template, for tests that must commit
  (jobs, NOTIFY, several connections). Dropped afterwards.

Set PGREC_TEST_DATABASE_URL to run against another server (it needs CREATE DATABASE).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from db import embedded, migrate
from tests.support.databases import (
    ROOT,
    SHARED_DATA,
    admin,
    engine_for,
    private_database,
    with_database,
)
from tests.support.recs_catalog import catalog_url

__all__ = ["catalog_url"]  # a session fixture of the retrieval tests


@pytest.fixture(scope="session")
def server_url() -> str:
    given = os.environ.get("PGREC_TEST_DATABASE_URL")
    if given:
        return given
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        return embedded.start(ROOT / ".pgrec" / "test-pgdata")


@pytest.fixture(scope="session")
def template_url(server_url: str) -> Iterator[str]:
    name = f"pgrec_tpl_{os.getpid()}"
    admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(server_url, f"CREATE DATABASE {name}")
    url = with_database(server_url, name)
    migrate.upgrade(url)
    yield url
    admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def db_url(server_url: str, template_url: str) -> Iterator[str]:
    with private_database(server_url, template_url) as url:
        yield url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    with engine_for(db_url) as eng:
        yield eng


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        outer = connection.begin()
        try:
            yield connection
        finally:
            outer.rollback()


@pytest.fixture
def session(conn: Connection) -> Iterator[Session]:
    with Session(bind=conn, join_transaction_mode="create_savepoint") as s:
        yield s


@pytest.fixture
def fresh_db_url(server_url: str, template_url: str) -> Iterator[str]:
    with private_database(server_url, template_url) as url:
        yield url


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}: tests need ../shared/data")
    return SHARED_DATA
