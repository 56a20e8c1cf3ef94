"""Data functions of job runs: advisory locks, refresh_state, job_state and the job_runs log.

Liveness: a job process beats every `HEARTBEAT_SECONDS` (jobs/heartbeat.py) while its run is
open; a run whose last beat is older than `STALL_SECONDS` belonged to a process that was
killed or lost its database, and `sweep_stalled` marks it failed. The work such a process
held (items claimed `FOR UPDATE SKIP LOCKED`, advisory locks) is released by Postgres when
its connection ends, so the next run picks it up; the sweep makes the record say so.

Every function runs in the caller's transaction on an SQLAlchemy `Connection`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from db.rows import dict_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunState:
    """A refresh job's last run for one model (refresh_state)."""

    ran_at: dt.datetime
    watermark: dt.datetime | None
    items: int
    changed: int
    k: int
    mode: str
    seconds: float


@dataclass(frozen=True)
class JobState:
    """An interaction job's last run (job_state)."""

    signature: str
    ran_at: dt.datetime
    seconds: float
    details: dict[str, Any]


def lock_job(*, conn: Connection, job: str, model: str) -> None:
    """Wait for the session-level advisory lock of (`job`, `model`): runs never overlap."""
    conn.execute(
        text("SELECT pg_advisory_lock(hashtext('pgrec.refresh'), hashtext(:key))"),
        {"key": f"{job}:{model}"},
    )


def unlock_job(*, conn: Connection, job: str, model: str) -> None:
    conn.execute(
        text("SELECT pg_advisory_unlock(hashtext('pgrec.refresh'), hashtext(:key))"),
        {"key": f"{job}:{model}"},
    )


def unseen_floor(*, conn: Connection) -> dt.datetime:
    """A time no later than the `embedded_at` of any vector a snapshot taken after now misses.

    Writers stamp `embedded_at` with their transaction's start, and may commit after a later
    reader's snapshot; so the floor is the oldest open transaction in this database (or now).
    Call it in its own transaction, before the one that reads the vectors. Backends of other
    roles without pg_read_all_stats are invisible here: run jobs and workers as one role.
    """
    return conn.execute(  # type: ignore[no-any-return]
        text(
            "SELECT least(statement_timestamp(), ("
            "  SELECT min(xact_start) FROM pg_stat_activity"
            "  WHERE datname = current_database() AND pid <> pg_backend_pid()))"
        )
    ).scalar_one()


_REFRESH_STATE = text(
    "SELECT ran_at, watermark, items, changed, k, mode, seconds FROM refresh_state"
    " WHERE model = :m AND job = :j"
)


def refresh_state(*, conn: Connection, model: str, job: str) -> RunState | None:
    """The last recorded run of refresh job `job` for `model`, if any."""
    row = conn.execute(_REFRESH_STATE, {"m": model, "j": job}).one_or_none()
    return None if row is None else RunState(*row)


def record_refresh(
    *,
    conn: Connection,
    model: str,
    job: str,
    watermark: dt.datetime | None,
    items: int,
    changed: int,
    k: int,
    mode: str,
    seconds: float,
) -> None:
    """Upsert the state row of (`model`, `job`); commit it with the data it describes."""
    conn.execute(
        text(
            "INSERT INTO refresh_state"
            " (model, job, ran_at, watermark, items, changed, k, mode, seconds)"
            " VALUES (:m, :j, now(), :w, :n, :c, :k, :mode, :s)"
            " ON CONFLICT (model, job) DO UPDATE SET ran_at = EXCLUDED.ran_at,"
            " watermark = EXCLUDED.watermark, items = EXCLUDED.items,"
            " changed = EXCLUDED.changed, k = EXCLUDED.k, mode = EXCLUDED.mode,"
            " seconds = EXCLUDED.seconds"
        ),
        {"m": model, "j": job, "w": watermark, "n": items, "c": changed}
        | {"k": k, "mode": mode, "s": seconds},
    )


def job_state(*, conn: Connection, job: str) -> JobState | None:
    """What interaction job `job` ('cooccurrence', 'ranker') recorded on its last run."""
    row = conn.execute(
        text("SELECT signature, ran_at, seconds, details FROM job_state WHERE job = :j"),
        {"j": job},
    ).one_or_none()
    return None if row is None else JobState(*row)


def job_report(*, conn: Connection, job: str) -> dict[str, Any] | None:
    """When `job` last ran and what it reported, for /status."""
    state = job_state(conn=conn, job=job)
    if state is None:
        return None
    return {"ran_at": state.ran_at, "seconds": state.seconds, "details": state.details}


def record_job_state(
    *, conn: Connection, job: str, signature: str, seconds: float, details: dict[str, Any]
) -> None:
    """Upsert `job`'s state row; commit it with the data it describes."""
    conn.execute(
        text(
            "INSERT INTO job_state (job, signature, ran_at, seconds, details)"
            " VALUES (:j, :s, now(), :sec, CAST(:d AS jsonb))"
            " ON CONFLICT (job) DO UPDATE SET signature = EXCLUDED.signature,"
            " ran_at = EXCLUDED.ran_at, seconds = EXCLUDED.seconds, details = EXCLUDED.details"
        ),
        {"j": job, "s": signature, "sec": seconds, "d": json.dumps(details)},
    )


def start_run(conn: Connection, *, job: str, model: str | None) -> int:
    """Record the start of a job run; commit it on its own so it shows while running.

    Runs of killed processes are swept first (marked failed), so the record stays honest.
    """
    for swept in sweep_stalled(conn):
        log.warning("swept stalled job run %s (%s, pid %s)", swept.id, swept.job, swept.pid)
    return int(
        conn.execute(
            text(
                "INSERT INTO job_runs (job, model, host, pid) VALUES (:j, :m, :h, :p) RETURNING id"
            ),
            {"j": job, "m": model, "h": socket.gethostname(), "p": os.getpid()},
        ).scalar_one()
    )


def record_batch(conn: Connection, *, run_id: int, items: int, seconds: float) -> None:
    """Count a batch into its run, in the batch's own transaction (so counts never drift)."""
    conn.execute(
        text(
            "UPDATE job_runs SET items = items + :n, busy_seconds = busy_seconds + :s, "
            "heartbeat_at = now() WHERE id = :id"
        ),
        {"n": items, "s": seconds, "id": run_id},
    )


def finish_run(conn: Connection, *, run_id: int, status: str, error: str | None = None) -> None:
    conn.execute(
        text(
            "UPDATE job_runs SET status = :st, error = :e, finished_at = now(), "
            "heartbeat_at = now() WHERE id = :id"
        ),
        {"st": status, "e": error, "id": run_id},
    )


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
    return dict_rows(
        conn,
        "SELECT id, job, model, host, pid, started_at, heartbeat_at,"
        " heartbeat_at < now() - make_interval(secs => :stall) AS stalled"
        " FROM job_runs WHERE status = 'running' ORDER BY started_at, id",
        stall=stall_seconds,
    )
