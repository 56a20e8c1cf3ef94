"""Data functions of the ranker job: training histories, candidates, ranking_models rows.

Every function runs in the caller's transaction. The training ones (`positive_items`,
`truncate_histories`, `candidates`, `fallback_weights`) are meant for a transaction that
is rolled back: they delete interactions and switch the active model off to see the past.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

# A user's items with a positive preference (the same sum of rec.event_weight as the
# co-occurrence job and rec.user_history) and the item's latest event, oldest first.
POSITIVE_ITEMS = """
WITH per_item AS (
  SELECT user_id, item_id, sum(rec.event_weight(event, value)::float8) AS p,
         min(occurred_at) AS first_at
  FROM interactions GROUP BY user_id, item_id
), liked AS (
  SELECT user_id, item_id, first_at, count(*) OVER (PARTITION BY user_id) AS n
  FROM per_item WHERE p > 0
)
-- By the first event on the item: an item held out (first touched at or after the cut)
-- then has no event left before the cut, so it is not "seen" and can be a candidate.
SELECT user_id, item_id, first_at FROM liked WHERE n >= :min_items
ORDER BY user_id COLLATE "C", first_at, item_id
"""

CANDIDATES = """
SELECT u.n::int AS n, c.item_id, c.features
FROM unnest(CAST(:users AS text[])) WITH ORDINALITY u(user_id, n),
     LATERAL rec.user_candidates(u.user_id, '{}'::jsonb, :per_source) c
ORDER BY u.n, c.item_id
"""


@dataclass(frozen=True)
class Weights:
    """The scoring stage's parameters as rec.ranker() returns them."""

    version: str
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float


@dataclass(frozen=True)
class ModelRow:
    version: str
    features: list[str]
    trained_on: dict[str, Any]
    metrics: dict[str, Any]
    seed: int
    active: bool
    created_at: dt.datetime


def feature_names(*, conn: Connection) -> list[str]:
    """rec.ranker_features(): the order of every candidate's feature vector."""
    return list(conn.execute(text("SELECT rec.ranker_features()")).scalar_one())


def positive_items(*, conn: Connection, min_items: int) -> dict[str, list[tuple[dt.datetime, int]]]:
    """Per user with >= `min_items` positive items: (latest event, item) oldest first."""
    out: dict[str, list[tuple[dt.datetime, int]]] = {}
    for user, item, first_at in conn.execute(text(POSITIVE_ITEMS), {"min_items": min_items}):
        out.setdefault(user, []).append((first_at, int(item)))
    return out


def truncate_histories(
    *, conn: Connection, users: Sequence[str], cuts: Sequence[dt.datetime]
) -> int:
    """Delete each user's interactions at or after their cut time; rows deleted."""
    result = conn.execute(
        text(
            "DELETE FROM interactions x USING unnest(CAST(:users AS text[]),"
            " CAST(:cuts AS timestamptz[])) c(user_id, cut)"
            " WHERE x.user_id = c.user_id AND x.occurred_at >= c.cut"
        ),
        {"users": list(users), "cuts": list(cuts)},
    )
    return int(result.rowcount)


def candidates(
    *, conn: Connection, users: Sequence[str], per_source: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rec.user_candidates of each user: (user position, item id, features) ordered by both."""
    rows = conn.execute(text(CANDIDATES), {"users": list(users), "per_source": per_source}).all()
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float64)
    at = np.fromiter((r.n - 1 for r in rows), np.int64, len(rows))
    items = np.fromiter((r.item_id for r in rows), np.int64, len(rows))
    features = np.array([r.features for r in rows], dtype=np.float64)
    return at, items, features


def current_weights(*, conn: Connection) -> Weights:
    """SELECT * FROM rec.ranker(): what rec.for_user scores with now."""
    r = conn.execute(text("SELECT * FROM rec.ranker()")).one()
    return Weights(r.version, list(r.mean), list(r.scale), list(r.coef), float(r.intercept))


def deactivate(*, conn: Connection) -> str | None:
    """Switch the active ranking model off (rec.ranker() falls back); the version it was."""
    return conn.execute(
        text("UPDATE ranking_models SET active = false WHERE active RETURNING version")
    ).scalar()


def insert_model(
    *,
    conn: Connection,
    version: str,
    features: Sequence[str],
    params: dict[str, Any],
    trained_on: dict[str, Any],
    metrics: dict[str, Any],
    seed: int,
) -> bool:
    """Store a trained version, inactive; False when that version was already stored."""
    created = conn.execute(
        text(
            "INSERT INTO ranking_models (version, features, params, trained_on, metrics, seed)"
            " VALUES (:v, :f, CAST(:p AS jsonb), CAST(:t AS jsonb), CAST(:m AS jsonb), :s)"
            " ON CONFLICT (version) DO NOTHING RETURNING true"
        ),
        {
            "v": version,
            "f": list(features),
            "p": json.dumps(params),
            "t": json.dumps(trained_on),
            "m": json.dumps(metrics),
            "s": seed,
        },
    ).scalar()
    return bool(created)


def activate(*, conn: Connection, version: str) -> None:
    """Make `version` the only active ranking model.

    LookupError when it is not stored; ValueError when its features are not the current
    rec.ranker_features() (rec.ranker() would ignore it and serve the fallback).
    """
    row = conn.execute(
        text(
            "SELECT features = rec.ranker_features() AS current, features"
            " FROM ranking_models WHERE version = :v FOR UPDATE"
        ),
        {"v": version},
    ).one_or_none()
    if row is None:
        raise LookupError(f"no ranking model {version!r} (pgrec ranker list shows them)")
    if not row.current:
        raise ValueError(
            f"ranking model {version!r} was trained on features {list(row.features)}, "
            f"not the current {feature_names(conn=conn)}"
        )
    # Two statements: the one-active unique index is checked row by row.
    conn.execute(
        text("UPDATE ranking_models SET active = false WHERE active AND version <> :v"),
        {"v": version},
    )
    conn.execute(text("UPDATE ranking_models SET active = true WHERE version = :v"), {"v": version})


def list_models(*, conn: Connection) -> list[ModelRow]:
    """Every stored version, newest first."""
    rows = conn.execute(
        text(
            "SELECT version, features, trained_on, metrics, seed, active, created_at"
            " FROM ranking_models ORDER BY created_at DESC, version"
        )
    ).all()
    return [ModelRow(r.version, list(r.features), *r[2:]) for r in rows]


def ranker_status(*, conn: Connection) -> dict[str, Any]:
    """The scoring stage the user mode uses: the active model's version, creation time and
    validation metrics, or just version 'fallback' when none is trained (or its features
    are not the current ones, which rec.ranker() then ignores)."""
    row = conn.execute(
        text(
            "SELECT r.version, m.created_at, m.metrics FROM rec.ranker() r"
            " LEFT JOIN ranking_models m ON m.version = r.version"
        )
    ).one()
    if row.created_at is None:
        return {"version": row.version}
    return {"version": row.version, "created_at": row.created_at, "metrics": row.metrics}
