"""Running a job: its connection, advisory lock, snapshot transaction, retried write, run record."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from sqlalchemy import Connection, Engine, exc, text

from db import job_runs
from db.embeddings import active_model
from db.engine import job_engine

log = logging.getLogger(__name__)
T = TypeVar("T")
WRITE_ATTEMPTS = 3


@contextlib.contextmanager
def job_connection(url: str | None) -> Iterator[Connection]:
    """One unpooled connection: closing it ends the session and releases its locks."""
    engine = job_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


@contextlib.contextmanager
def exclusive_run(conn: Connection, job: str, model: str) -> Iterator[None]:
    """Hold the job's advisory lock for `model`; a second run waits for the first."""
    job_runs.lock_job(conn=conn, job=job, model=model)
    conn.commit()
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        # A broken connection has released the lock with its session already.
        with contextlib.suppress(exc.DBAPIError):
            job_runs.unlock_job(conn=conn, job=job, model=model)
            conn.commit()


@contextlib.contextmanager
def snapshot(conn: Connection, *, keep: bool = True) -> Iterator[None]:
    """A REPEATABLE READ transaction: every read in it sees the same snapshot.

    It commits at the end, or with `keep=False` rolls back whatever the block wrote.
    """
    with conn.begin() as trans:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        yield
        if not keep:
            trans.rollback()


@dataclass(frozen=True)
class ModelRefresh:
    """A refresh job's locked connection, its model, and the floor of vectors it may miss."""

    conn: Connection
    model: str
    floor: dt.datetime


@contextlib.contextmanager
def model_refresh(url: str | None, job: str, model: str | None) -> Iterator[ModelRefresh]:
    """Connect, resolve `model` (default: the active one), lock (`job`, model), take the floor."""
    with job_connection(url) as conn:
        name = model or active_model(conn).name
        with exclusive_run(conn, job, name):
            floor = job_runs.unseen_floor(conn=conn)
            conn.commit()
            yield ModelRefresh(conn=conn, model=name, floor=floor)


def commit_with_retry(conn: Connection, write: Callable[[], T], job: str) -> T:
    """Run `write` in one transaction; again if an item deleted meanwhile fails an FK check.

    The rows are joined with items, but an item deleted after the statement's snapshot and
    before its foreign-key check still fails the insert; retrying then skips it.
    """
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with conn.begin():
                return write()
        except exc.IntegrityError as err:
            fk_race = isinstance(err.orig, psycopg.errors.ForeignKeyViolation)
            if not fk_race or attempt == WRITE_ATTEMPTS:
                raise
            log.warning("%s: an item was deleted during the write, retrying", job)
    raise AssertionError("unreachable")


def record_start(engine: Engine, job: str, model: str | None) -> int:
    """A job_runs row for a starting run, committed on its own so it shows while running."""
    with engine.begin() as conn:
        return job_runs.start_run(conn, job=job, model=model)


def record_end(engine: Engine, run_id: int | None, status: str, error: str | None) -> None:
    """Close the run's job_runs row; a lost database leaves it with its last heartbeat."""
    if run_id is None:
        return
    try:
        with engine.begin() as conn:
            job_runs.finish_run(conn, run_id=run_id, status=status, error=error)
    except exc.DBAPIError:
        log.exception("could not record the end of job run %s", run_id)


def outcome(err: BaseException) -> tuple[str, str]:
    """(status, error) recorded for a run that ended by raising `err`."""
    status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
    return status, f"{type(err).__name__}: {err}"


@contextlib.contextmanager
def recorded_run(engine: Engine, job: str, model: str | None) -> Iterator[int]:
    """A job_runs row around the block: 'ok', or 'failed'/'interrupted' with the error."""
    run_id = record_start(engine, job, model)
    status, error = "failed", None
    try:
        yield run_id
        status = "ok"
    except BaseException as err:
        status, error = outcome(err)
        raise
    finally:
        record_end(engine, run_id, status, error)
