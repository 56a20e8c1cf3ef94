"""Text modes: full-text search over the weighted tsvector, typo-tolerant title search."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import Connection, text

from db.recs.calls import Hit, call_hits, call_hits_async, filters_json, psycopg_sql
from db.recs.filters import Filters

_TERMS = text("SELECT item_id, score FROM rec.search_terms(:q, :k, CAST(:filters AS jsonb))")
_TITLE = text("SELECT item_id, score FROM rec.search_title(:q, :k, CAST(:filters AS jsonb))")
_ASYNC = {"terms": psycopg_sql(_TERMS), "title": psycopg_sql(_TITLE)}


def search_terms(*, conn: Connection, q: str, k: int, filters: Filters) -> list[Hit]:
    """websearch_to_tsquery over items.search_tsv, ranked by ts_rank_cd."""
    return call_hits(conn, _TERMS, {"q": q, "k": k, "filters": filters_json(filters)})


def search_title(*, conn: Connection, q: str, k: int, filters: Filters) -> list[Hit]:
    """Trigram similarity of pgrec_norm_title(title) to the normalised query."""
    return call_hits(conn, _TITLE, {"q": q, "k": k, "filters": filters_json(filters)})


async def search_text_async(
    *, conn: psycopg.AsyncConnection[Any], mode: str, q: str, k: int, filters: Filters
) -> list[Hit]:
    """`search_terms` (mode "terms") or `search_title` ("title") on an asyncio connection."""
    params = {"q": q, "k": k, "filters": filters_json(filters)}
    return await call_hits_async(conn, _ASYNC[mode], params)
