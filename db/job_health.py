"""Liveness of job runs: heartbeats on running `job_runs` rows and the sweep of stalled ones.

A job process beats every `HEARTBEAT_SECONDS` (jobs/heartbeat.py) while its run is open; a
run whose last beat is older than `STALL_SECONDS` belonged to a process that was killed or
lost its database, and `sweep_stalled` marks it failed. The work such a process held (items
claimed `FOR UPDATE SKIP LOCKED`, advisory locks) is released by Postgres when its
connection ends, so the next run picks it up; the sweep makes the record say so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

HEARTBEAT_SECONDS = 15.0
STALL_SECONDS = 120.0


@dataclass(frozen=True)
class SweptRun:
    id: int
    job: str
    model: str | None
    host: str | None
    pid: int | None
    heartbeat_at: dt.datetime


def beat(conn: Connection, *, run_ids: Sequence[int]) -> None:
    """Record that these runs are alive (only those still running)."""
    if run_ids:
        conn.execute(
            text(
                "UPDATE job_runs SET heartbeat_at = now()"
                " WHERE id = ANY(CAST(:ids AS bigint[])) AND status = 'running'"
            ),
            {"ids": list(run_ids)},
        )


def sweep_stalled(conn: Connection, *, stall_seconds: float = STALL_SECONDS) -> list[SweptRun]:
    """Mark running runs without a heartbeat for `stall_seconds` as failed; the swept runs."""
    rows = conn.execute(
        text(
            "UPDATE job_runs SET status = 'failed', finished_at = now(),"
            " error = format('stalled: no heartbeat since %s (swept)', heartbeat_at)"
            " WHERE status = 'running'"
            " AND heartbeat_at < now() - make_interval(secs => :stall)"
            " RETURNING id, job, model, host, pid, heartbeat_at"
        ),
        {"stall": stall_seconds},
    ).all()
    return [SweptRun(int(r.id), r.job, r.model, r.host, r.pid, r.heartbeat_at) for r in rows]


def runs_summary(conn: Connection, *, stall_seconds: float = STALL_SECONDS) -> dict[str, Any]:
    """For /status: running runs, how many of them are stalled, the last swept run."""
    row = conn.execute(
        text(
            "SELECT count(*) FILTER (WHERE status = 'running') AS running,"
            " count(*) FILTER (WHERE status = 'running'"
            "   AND heartbeat_at < now() - make_interval(secs => :stall)) AS stalled,"
            " max(finished_at) FILTER (WHERE status = 'failed'"
            "   AND error LIKE 'stalled:%') AS last_swept_at"
            " FROM job_runs"
        ),
        {"stall": stall_seconds},
    ).one()
    return {
        "running": int(row.running),
        "stalled": int(row.stalled),
        "last_swept_at": row.last_swept_at,
        "stall_seconds": stall_seconds,
    }


def running_runs(conn: Connection, *, stall_seconds: float = STALL_SECONDS) -> list[dict[str, Any]]:
    """Runs still marked running, oldest first, each with whether it is stalled."""
    rows = conn.execute(
        text(
            "SELECT id, job, model, host, pid, started_at, heartbeat_at,"
            " heartbeat_at < now() - make_interval(secs => :stall) AS stalled"
            " FROM job_runs WHERE status = 'running' ORDER BY started_at, id"
        ),
        {"stall": stall_seconds},
    ).all()
    return [dict(r._mapping) for r in rows]
