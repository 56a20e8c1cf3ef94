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
    """Impressions per UTC hour and variant over the window's hours, from impression_counts
    (migration 0019: the console's chart no longer reads every impression of the window)."""
    return dict_rows(
        conn,
        "SELECT hour, variant, sum(impressions)::bigint AS impressions FROM impression_counts"
        " WHERE hour >= date_trunc('hour', now() - CAST(:w AS interval), 'UTC')"
        " GROUP BY hour, variant ORDER BY hour, variant",
        w=window,
    )
