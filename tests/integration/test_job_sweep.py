"""Stalled job runs (issue 15, defect 7): heartbeats, the sweep, and where it shows.

A run whose process was killed keeps status 'running' and an old heartbeat; the sweep marks
it failed, the next run starting sweeps first, and `pgrec jobs status` and /status show it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text

from db.engine import sqlalchemy_url
from db.job_runs import STALL_SECONDS, start_run, sweep_stalled
from jobs.heartbeat import Heartbeats
from pgrec.cli import main
from tests.support.api import ready_client, seed
from tests.support.cli import database_env as _database


def _run(url: str, *, beat_ago: str) -> int:
    """A run as a (killed) job process left it: running, last heartbeat `beat_ago`."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "INSERT INTO job_runs (job, model, host, pid, heartbeat_at)"
            " VALUES ('worker', 'all-MiniLM-L6-v2', 'gone-host', 999999, now() - %s::interval)"
            " RETURNING id",
            (beat_ago,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _status(url: str, run_id: int) -> tuple[str, str | None]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT status, error FROM job_runs WHERE id = %s", (run_id,)).fetchone()
    assert row is not None
    return row[0], row[1]


def test_a_stalled_run_is_swept_and_a_live_one_is_not(fresh_db_url: str) -> None:
    stalled = _run(fresh_db_url, beat_ago="1 hour")
    alive = _run(fresh_db_url, beat_ago="1 second")
    engine = create_engine(sqlalchemy_url(fresh_db_url))
    try:
        with engine.begin() as conn:
            swept = sweep_stalled(conn)
        assert [r.id for r in swept] == [stalled] and swept[0].pid == 999999
        status, error = _status(fresh_db_url, stalled)
        assert status == "failed" and error is not None and error.startswith("stalled")
        assert _status(fresh_db_url, alive) == ("running", None)
        # A job starting sweeps first: the run its killed predecessor left is closed.
        again = _run(fresh_db_url, beat_ago=f"{int(STALL_SECONDS) + 60} seconds")
        with engine.begin() as conn:
            start_run(conn, job="embed", model=None)
        assert _status(fresh_db_url, again)[0] == "failed"
    finally:
        engine.dispose()


def test_heartbeats_keep_a_run_alive(fresh_db_url: str) -> None:
    run_id = _run(fresh_db_url, beat_ago="1 hour")
    engine = create_engine(sqlalchemy_url(fresh_db_url))
    beats = Heartbeats(every=3600)
    try:
        beats.add(engine, run_id)
        beats.beat_now()
        with engine.begin() as conn:
            assert sweep_stalled(conn) == []
            fresh = conn.execute(
                text(
                    "SELECT heartbeat_at > now() - interval '1 minute' FROM job_runs WHERE id = :i"
                ),
                {"i": run_id},
            ).scalar_one()
        assert fresh is True
    finally:
        beats.remove(run_id)
        engine.dispose()


def test_jobs_status_sweeps_and_shows_it(
    fresh_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stalled = _run(fresh_db_url, beat_ago="1 hour")
    alive = _run(fresh_db_url, beat_ago="1 second")
    with _database(fresh_db_url):
        assert main(["jobs", "status"]) == 0
    out = capsys.readouterr().out
    assert f"swept: run {stalled} (worker, pid 999999 on gone-host)" in out
    assert f"running: run {alive} (worker" in out
    assert _status(fresh_db_url, stalled)[0] == "failed"


def test_status_shows_stalled_runs(fresh_db_url: str) -> None:
    seed(fresh_db_url)
    _run(fresh_db_url, beat_ago="1 hour")
    with ready_client(fresh_db_url) as client:
        jobs: dict[str, Any] = client.get("/status").json()["jobs"]
    assert (jobs["running"], jobs["stalled"]) == (1, 1)
