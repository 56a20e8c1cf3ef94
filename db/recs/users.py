"""User mode: recommendations from a user's own interactions."""

from __future__ import annotations

from sqlalchemy import Connection, text

from db.recs.calls import Hit, call_hits, filters_json
from db.recs.filters import Filters

_FOR_USER = text("SELECT item_id, score FROM rec.for_user(:user_id, :k, CAST(:filters AS jsonb))")


def for_user(*, conn: Connection, user_id: str, k: int, filters: Filters) -> list[Hit]:
    """From the user's interactions (event weights, recency decay); seen items excluded."""
    params = {"user_id": user_id, "k": k, "filters": filters_json(filters)}
    return call_hits(conn, _FOR_USER, params)
