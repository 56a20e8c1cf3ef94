"""Warm a pooled connection's backend: the first calls of the `rec.*` functions in a new
backend compile them (PL/pgSQL) and load the catalog caches they read, 25-75 ms each."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
from sqlalchemy import Connection

from db.recs.filters import Filters
from db.recs.text import search_terms, search_text_async, search_title
from db.recs.users import popular
from db.recs.vector import semantic, semantic_async

# A kind no item has: counted (nothing), so the exact branch of rec.semantic is compiled.
NO_MATCH = Filters(kinds=("pgrec-warm-up",))


def warm_connection(conn: Connection, *, model: str, dim: int) -> None:
    """One call down each path the API takes: rec.semantic unfiltered and filtered (HNSW,
    the estimate, the count and the exact scan), terms, title and the popular list."""
    q = np.zeros(dim, dtype=np.float32)
    q[0] = 1.0
    semantic(conn=conn, model=model, vector=q, k=10, filters=Filters())
    semantic(conn=conn, model=model, vector=q, k=10, filters=Filters(available=True))
    semantic(conn=conn, model=model, vector=q, k=10, filters=NO_MATCH)
    search_terms(conn=conn, q="warm up", k=1, filters=NO_MATCH)
    search_title(conn=conn, q="warm up", k=1, filters=NO_MATCH)
    popular(conn=conn, k=1, filters=NO_MATCH)


async def warm_async_connection(
    conn: psycopg.AsyncConnection[Any], *, model: str, dim: int
) -> None:
    """The same for an asyncio connection, which serves filtered semantic queries (rec.semantic's
    HNSW branch under a filter, and its counted exact branch), terms and title."""
    q = np.zeros(dim, dtype=np.float32)
    q[0] = 1.0
    for filters in (Filters(available=True), NO_MATCH):
        await semantic_async(conn=conn, model=model, vector=q, k=10, filters=filters)
    for mode in ("terms", "title"):
        await search_text_async(conn=conn, mode=mode, q="warm up", k=1, filters=NO_MATCH)
