"""Vector modes: nearest items to a query vector, to an item, and to a set of items."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import Connection, text

from db.recs.calls import (
    Hit,
    MoreLike,
    call_hits,
    call_hits_async,
    filters_json,
    psycopg_sql,
    translated_errors,
    vector_param,
)
from db.recs.filters import Filters

_SEMANTIC = text(
    "SELECT item_id, score FROM rec.semantic("
    "CAST(:q AS vector), :k, CAST(:filters AS jsonb), :model)"
)
_SEMANTIC_PG = psycopg_sql(_SEMANTIC)
_SIMILAR = text("SELECT item_id, score FROM rec.similar_items(:item, :k, CAST(:filters AS jsonb))")
_ITEM_EXISTS = text("SELECT EXISTS (SELECT 1 FROM items WHERE id = :item)")
_MORE_LIKE = text(
    "SELECT item_id, score FROM rec.more_like("
    "CAST(:positive AS bigint[]), CAST(:negative AS bigint[]), :k, "
    "CAST(:filters AS jsonb), CAST(:weights AS jsonb))"
)
_MISSING = text("SELECT rec.missing_items(CAST(:ids AS bigint[]))")


def semantic(
    *, conn: Connection, model: str, vector: np.ndarray, k: int, filters: Filters
) -> list[Hit]:
    """Nearest items to `vector` under `model` among those matching `filters` (exact top-k)."""
    params = {"q": vector_param(vector), "k": k, "filters": filters_json(filters)}
    return call_hits(conn, _SEMANTIC, {**params, "model": model})


async def semantic_async(
    *,
    conn: psycopg.AsyncConnection[Any],
    model: str,
    vector: np.ndarray,
    k: int,
    filters: Filters,
) -> list[Hit]:
    """`semantic` on an asyncio connection (db/async_reads.py, which wraps its errors)."""
    params = {"q": vector_param(vector), "k": k, "filters": filters_json(filters), "model": model}
    return await call_hits_async(conn, _SEMANTIC_PG, params)


def similar_items(*, conn: Connection, item_id: int, k: int, filters: Filters) -> list[Hit]:
    """Items nearest to `item_id` (itself excluded); raises LookupError for an unknown id."""
    params = {"item": item_id, "k": k, "filters": filters_json(filters)}
    hits = call_hits(conn, _SIMILAR, params)
    # rec.similar_items answers an unknown item with no rows, which analysts' joins prefer.
    if not hits and not conn.execute(_ITEM_EXISTS, {"item": item_id}).scalar_one():
        raise LookupError(f"unknown item id {item_id}")
    return hits


def more_like(
    *,
    conn: Connection,
    positive: Sequence[int],
    negative: Sequence[int],
    weights: Mapping[int, float] | None,
    k: int,
    filters: Filters,
) -> MoreLike:
    """avg_pos + (avg_pos - avg_neg); inputs excluded; unknown ids in `missing_ids`."""
    pos, neg = [int(i) for i in positive], [int(i) for i in negative]
    params = {
        "positive": pos,
        "negative": neg,
        "k": k,
        "filters": filters_json(filters),
        "weights": None if weights is None else json.dumps({str(i): w for i, w in weights.items()}),
    }
    hits = call_hits(conn, _MORE_LIKE, params)
    with translated_errors():
        missing = conn.execute(_MISSING, {"ids": pos + neg}).scalar_one()
    return MoreLike(hits=hits, missing_ids=[int(i) for i in missing])
