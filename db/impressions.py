"""Impressions in Postgres: batched COPY of served lists, pruning, and the online metrics.

The API queues what it served and a background task hands batches to `write_impressions`
(one COPY per batch); the trigger impressions_roll_up (migration 0019) keeps the rollups the
gauges read (impressions per hour, each item's last serving), so a refresh costs what the
window's clicks cost, not what its impressions do. The figures are those the `rec.*` views
(db/sql/views) define over every impression, so /metrics and an analyst's SQL agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

from db.rows import dict_rows

# request_id goes as text: the server parses it into the uuid column.
COLUMNS = ("request_id", "served_at", "user_id", "mode", "variant", "ranker", "snapshot_version")
TYPES = ("text", "timestamptz", "text", "text", "text", "text", "int4", "int8[]")


@dataclass(frozen=True)
class ImpressionRow:
    request_id: str
    served_at: dt.datetime
    user_id: str | None
    mode: str
    variant: str
    ranker: str | None
    snapshot_version: int | None
    item_ids: tuple[int, ...]


def write_impressions(*, engine: Engine, rows: Sequence[ImpressionRow]) -> int:
    """COPY the rows in one transaction; returns how many were written."""
    if not rows:
        return 0
    with engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur:
            columns = ", ".join((*COLUMNS, "item_ids"))
            with cur.copy(f"COPY impressions ({columns}) FROM STDIN") as copy:
                copy.set_types(list(TYPES))
                for r in rows:
                    copy.write_row(
                        (
                            r.request_id,
                            r.served_at,
                            r.user_id,
                            r.mode,
                            r.variant,
                            r.ranker,
                            r.snapshot_version,
                            list(r.item_ids),
                        )
                    )
        # The COPY ran on the driver connection, outside SQLAlchemy's transaction: commit there.
        raw.commit()
    return len(rows)


def prune_impressions(*, conn: Connection, older_than: dt.timedelta) -> int:
    """Delete the impressions served before the UTC hour that now() - older_than falls in,
    and impression_counts' hours before it; returns how many impressions went.

    Whole hours go, so that every hour impression_counts keeps still has all of its
    impressions: a cut inside an hour would leave that hour's count over the impressions a
    window longer than the retention reads (up to an hour more is kept instead)."""
    cutoff = "date_trunc('hour', now() - CAST(:age AS interval), 'UTC')"
    age = {"age": older_than}
    result = conn.execute(text(f"DELETE FROM impressions WHERE served_at < {cutoff}"), age)
    conn.execute(text(f"DELETE FROM impression_counts WHERE hour < {cutoff}"), age)
    # item_last_served is not pruned: one row per item ever served, and the trigger locks its
    # rows in item order, which a DELETE would not (a deadlock with a flush).
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class VariantRates:
    mode: str
    variant: str
    impressions: int
    clicked: int
    converted: int

    @property
    def ctr(self) -> float:
        return self.clicked / self.impressions if self.impressions else 0.0

    @property
    def conversion(self) -> float:
        return self.converted / self.impressions if self.impressions else 0.0


# Impressions per mode and variant in the window: whole UTC hours from the rollup, the
# window's partial first hour from the impressions themselves (one hour at most).
# Clicked and converted: the impressions of the window that a click (purchase) of an item
# in their list names. Such an event comes after its list was served, so only events dated
# from a day before the window's start on are read (ix_interactions_request_time; the day
# allows for a client clock behind the API's): O(the window's events), not O(its lists).
# rec.impression_outcomes defines the same figures over every impression.
# The window's start is written out (not a CTE) so that the planner can estimate it.
_START = "now() - CAST(:w AS interval)"
_WHOLE = f"date_trunc('hour', {_START}, 'UTC') + interval '1 hour'"
_RATES = text(
    "WITH served AS ("
    "  SELECT mode, variant, sum(n)::bigint AS impressions FROM ("
    "   SELECT c.mode, c.variant, c.impressions AS n FROM impression_counts c"
    f"    WHERE c.hour >= {_WHOLE}"
    "   UNION ALL"
    "   SELECT i.mode, i.variant, count(*) FROM impressions i"
    f"    WHERE i.served_at >= {_START} AND i.served_at < {_WHOLE}"
    "    GROUP BY i.mode, i.variant) parts"
    "  GROUP BY mode, variant),"
    " outcomes AS ("
    "  SELECT mode, variant, count(*) FILTER (WHERE clicked) AS clicked,"
    "   count(*) FILTER (WHERE converted) AS converted FROM ("
    "   SELECT i.mode, i.variant, bool_or(x.event = 'click') AS clicked,"
    "    bool_or(x.event = 'purchase') AS converted"
    "   FROM interactions x"
    "   JOIN impressions i ON i.request_id = x.request_id AND x.item_id = ANY (i.item_ids)"
    "   WHERE x.request_id IS NOT NULL"
    f"    AND x.occurred_at >= {_START} - interval '1 day' AND i.served_at >= {_START}"
    "   GROUP BY i.request_id, i.mode, i.variant) per_list"
    "  GROUP BY mode, variant)"
    " SELECT s.mode, s.variant, s.impressions, coalesce(o.clicked, 0) AS clicked,"
    "  coalesce(o.converted, 0) AS converted"
    " FROM served s LEFT JOIN outcomes o USING (mode, variant)"
    " WHERE s.impressions > 0 ORDER BY s.mode, s.variant"
)


def variant_rates(*, conn: Connection, window: dt.timedelta) -> list[VariantRates]:
    """Click-through and conversion per mode and variant of the impressions in the window."""
    rows = conn.execute(_RATES, {"w": window}).all()
    return [VariantRates(r.mode, r.variant, r.impressions, r.clicked, r.converted) for r in rows]


def served_coverage(*, conn: Connection, window: dt.timedelta) -> tuple[int, int]:
    """(distinct items served in the window, to the minute; items in the catalog)."""
    row = conn.execute(
        text(
            "SELECT (SELECT count(*) FROM item_last_served"
            "  WHERE served_at >= now() - CAST(:w AS interval)) AS served,"
            " (SELECT count(*) FROM items) AS catalog"
        ),
        {"w": window},
    ).one()
    return int(row.served), int(row.catalog)


@dataclass(frozen=True)
class ListQuality:
    mode: str
    variant: str
    diversity: float | None
    novelty: float | None


def list_quality(*, conn: Connection, window: dt.timedelta, sample: int) -> list[ListQuality]:
    """Mean intra-list diversity and novelty per mode and variant, over the newest lists."""
    rows = conn.execute(
        text(
            "WITH recent AS (SELECT request_id FROM impressions"
            "  WHERE served_at >= now() - CAST(:w AS interval)"
            "  ORDER BY served_at DESC LIMIT :n)"
            " SELECT q.mode, q.variant, avg(q.diversity) AS diversity, avg(q.novelty) AS novelty"
            " FROM rec.impression_quality q JOIN recent USING (request_id)"
            " GROUP BY q.mode, q.variant ORDER BY q.mode, q.variant"
        ),
        {"w": window, "n": sample},
    ).all()
    return [
        ListQuality(
            r.mode,
            r.variant,
            None if r.diversity is None else float(r.diversity),
            None if r.novelty is None else float(r.novelty),
        )
        for r in rows
    ]


# The interaction jobs' last runs (job_state), and each job's last run per model (job_runs).
_JOB_SECONDS = text(
    "SELECT job, seconds::float8 FROM job_state"
    " UNION ALL"
    " SELECT name, seconds FROM (SELECT DISTINCT ON (job, model)"
    "  job || coalesce(':' || model, '') AS name,"
    "  extract(epoch FROM finished_at - started_at)::float8 AS seconds"
    "  FROM job_runs WHERE finished_at IS NOT NULL"
    "  ORDER BY job, model, finished_at DESC) last_runs"
)


def job_seconds(*, conn: Connection) -> dict[str, float]:
    """How long each job's last run took: interaction jobs, embedding runs per model."""
    rows = conn.execute(_JOB_SECONDS).all()
    return {str(r[0]): float(r[1]) for r in rows if r[1] is not None}


def recent_impressions(*, conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The newest impressions, for the console."""
    return dict_rows(
        conn,
        "SELECT request_id, served_at, user_id, mode, variant, ranker, snapshot_version,"
        " cardinality(item_ids) AS items FROM impressions"
        " ORDER BY served_at DESC LIMIT :n",
        n=limit,
    )
