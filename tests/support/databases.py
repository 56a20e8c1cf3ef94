"""Test databases on the session's server: clones of the migrated template, dropped after."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from sqlalchemy import Connection, Engine

from db.engine import make_engine

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
_counter = itertools.count()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def admin(url: str, sql: str) -> None:
    """Run one statement in autocommit (CREATE/DROP DATABASE)."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(sql)


def clone_database(server_url: str, template_url: str) -> str:
    """A new database copied from the migrated template; its URL."""
    name = f"pgrec_t_{os.getpid()}_{next(_counter)}"
    template = urlsplit(template_url).path.lstrip("/")
    # CREATE DATABASE ... TEMPLATE fails while anything is connected to the template (a
    # pooled connection closing a moment late); that clears within a second.
    for attempt in range(20):
        try:
            admin(server_url, f"CREATE DATABASE {name} TEMPLATE {template}")
            break
        except psycopg.errors.ObjectInUse:
            if attempt == 19:
                raise
            time.sleep(0.25)
    return with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def private_database(server_url: str, template_url: str) -> Iterator[str]:
    """A clone of the template for the block, dropped at its end."""
    url = clone_database(server_url, template_url)
    try:
        yield url
    finally:
        drop_database(server_url, url)


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    """A pooled engine on `url`, disposed at the end of the block."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def rolled_back(url: str) -> Iterator[Connection]:
    """A connection to `url` whose transaction is rolled back at the end of the block."""
    with engine_for(url) as engine, engine.connect() as connection:
        connection.begin()
        try:
            yield connection
        finally:
            connection.rollback()
