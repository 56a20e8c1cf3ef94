"""Data functions of the interactions: inserting events of known items."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class InteractionRow:
    user_id: str
    item_id: int
    event: str
    value: float | None
    occurred_at: dt.datetime | None


def insert_interactions(*, conn: Connection, rows: Sequence[InteractionRow]) -> int:
    """Insert interactions (known items only; repeats are skipped); returns how many were new."""
    if not rows:
        return 0
    result = conn.execute(
        text(
            "INSERT INTO interactions (user_id, item_id, event, value, occurred_at)"
            " SELECT t.user_id, t.item_id, t.event, t.value, coalesce(t.occurred_at, now())"
            " FROM unnest(CAST(:users AS text[]), CAST(:items AS bigint[]),"
            " CAST(:events AS text[]), CAST(:vals AS real[]), CAST(:times AS timestamptz[]))"
            " AS t(user_id, item_id, event, value, occurred_at)"
            " JOIN items i ON i.id = t.item_id"
            " ON CONFLICT DO NOTHING"
        ),
        {
            "users": [r.user_id for r in rows],
            "items": [r.item_id for r in rows],
            "events": [r.event for r in rows],
            "vals": [r.value for r in rows],
            "times": [r.occurred_at for r in rows],
        },
    )
    return int(result.rowcount or 0)
