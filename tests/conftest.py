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

import itertools
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.orm import Session

from db import embedded, migrate
from db.engine import sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
_counter = itertools.count()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _admin(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(sql)


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
    _admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _admin(server_url, f"CREATE DATABASE {name}")
    url = with_database(server_url, name)
    migrate.upgrade(url)
    yield url
    _admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _clone(server_url: str, template_url: str) -> str:
    name = f"pgrec_t_{os.getpid()}_{next(_counter)}"
    template = urlsplit(template_url).path.lstrip("/")
    # CREATE DATABASE ... TEMPLATE fails while anything is connected to the template (a
    # pooled connection closing a moment late); that clears within a second.
    for attempt in range(20):
        try:
            _admin(server_url, f"CREATE DATABASE {name} TEMPLATE {template}")
            break
        except psycopg.errors.ObjectInUse:
            if attempt == 19:
                raise
            time.sleep(0.25)
    return with_database(server_url, name)


def _drop(server_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    _admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def db_url(server_url: str, template_url: str) -> Iterator[str]:
    url = _clone(server_url, template_url)
    yield url
    _drop(server_url, url)


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(sqlalchemy_url(db_url))
    yield eng
    eng.dispose()


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
    url = _clone(server_url, template_url)
    yield url
    _drop(server_url, url)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}: tests need ../shared/data")
    return SHARED_DATA
