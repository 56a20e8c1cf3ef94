"""Running `pgrec` in-process against a test database, querying it, and data subsets."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection

from db import engine as engine_module
from db.ingest import IngestSummary, ingest_file
from db.settings import get_settings
from pgrec.cli import main
from tests.support.databases import engine_for

Cli = Callable[..., tuple[int, str, str]]  # `pgrec ARGV` run in-process: (code, stdout, stderr)
# The `movielens_database` fixture: users -> a private database with the TMDB catalog and
# those users' ratings, as (url, the ratings' ingest summary); dropped on exit.
MovieLensDatabase = Callable[[int], AbstractContextManager[tuple[str, IngestSummary]]]


@contextmanager
def database_env(url: str) -> Iterator[None]:
    """DATABASE_URL set for the CLI; the cached settings and engine follow it."""
    before = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    engine_module._engine_for.cache_clear()
    try:
        yield
    finally:
        engine_module.get_engine().dispose()
        engine_module._engine_for.cache_clear()
        if before is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = before
        get_settings.cache_clear()


def pgrec(url: str, *argv: str | Path) -> tuple[int, str, str]:
    """Run `pgrec ARGV` in-process against `url`: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with database_env(url), redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of one statement, on a connection of its own."""
    with psycopg.connect(url) as c:
        return c.execute(sql, params or None).fetchall()


def query_one(url: str, sql: str, *params: Any) -> tuple[Any, ...] | None:
    """The first row of one statement (None without one), on a connection of its own."""
    with psycopg.connect(url) as c:
        return c.execute(sql, params or None).fetchone()


def movielens_ratings(shared_data: Path, out: Path, users: int) -> Path:
    """A copy of MovieLens' ratings.csv with the ratings of users 1..`users` only."""
    source = shared_data / "movielens_ml-latest-small" / "ratings.csv"
    with source.open(newline="") as src, out.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=list(reader.fieldnames or []))
        writer.writeheader()
        writer.writerows(r for r in reader if int(r["userId"]) <= users)
    return out


def ingest_ratings(conn: Connection, shared_data: Path, tmp: Path, users: int) -> IngestSummary:
    """Ingest the MovieLens ratings of users 1..`users` (mapped to TMDB items) on `conn`."""
    ratings = movielens_ratings(shared_data, tmp / "ratings.csv", users)
    links = shared_data / "movielens_ml-latest-small" / "links.csv"
    return ingest_file(conn=conn, path=ratings, fmt="movielens-ratings", links=links)


def load_movielens(url: str, shared_data: Path, tmp: Path, users: int) -> IngestSummary:
    """Commit the TMDB catalog and the MovieLens ratings of users 1..`users` into `url`; the
    ratings' ingest summary."""
    with engine_for(url) as engine, engine.connect() as conn:
        tmdb = shared_data / "tmdb_5000_movies" / "tmdb_5000_movies.csv"
        assert ingest_file(conn=conn, path=tmdb, fmt="tmdb").written
        summary = ingest_ratings(conn, shared_data, tmp, users)
        conn.commit()
    return summary
