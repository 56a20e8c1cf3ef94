"""Read-only queries behind the /console page: job runs with progress, impressions per hour."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection

from db.rows import dict_rows


def recent_job_runs(*, conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The newest job runs: status, items done, rate, and how long since the last heartbeat."""
    return dict_rows(
        conn,
        "SELECT r.id, r.job, r.model, r.status, r.started_at, r.finished_at, r.items,"
        " r.busy_seconds, extract(epoch FROM now() - r.heartbeat_at)::float8 AS idle_seconds,"
        " extract(epoch FROM coalesce(r.finished_at, now()) - r.started_at)::float8 AS seconds"
        " FROM job_runs r ORDER BY r.started_at DESC, r.id DESC LIMIT :n",
        n=limit,
    )


def interaction_jobs(*, conn: Connection) -> list[dict[str, Any]]:
    """The interaction jobs (co-occurrence, ranker, ...): when each last ran, for how long."""
    return dict_rows(conn, "SELECT job, ran_at, seconds FROM job_state ORDER BY job")


def hourly_impressions(*, conn: Connection, window: dt.timedelta) -> list[dict[str, Any]]:
    """Impressions and clicked impressions per hour and variant, over the window."""
    return dict_rows(
        conn,
        "SELECT date_trunc('hour', served_at) AS hour, variant, count(*) AS impressions,"
        " count(*) FILTER (WHERE clicked) AS clicked"
        " FROM rec.impression_outcomes WHERE served_at >= now() - CAST(:w AS interval)"
        " GROUP BY 1, 2 ORDER BY 1, 2",
        w=window,
    )
