"""Retrieval functions, one per mode: thin Python wrappers over the SQL functions in `rec`.

The SQL functions (db/sql) are the one source of truth, so an
analyst's SQL and the API give the same answers. Every function takes an SQLAlchemy
`Connection` and runs in its transaction. Scores are "higher is better". `filters` restrict
the candidates (full recall: the true top-k among matching items). Ids are items.id
(bigint). Bad input (a filter value, k, a model name) raises `InvalidInput`, a ValueError
naming the key; as with any SQL error, the caller's transaction must then be rolled back.
"""

from __future__ import annotations

from db.recs.calls import Hit, MoreLike
from db.recs.filters import Filters, InvalidInput
from db.recs.items import facets, fetch_items
from db.recs.text import search_terms, search_text_async, search_title
from db.recs.users import (
    Interest,
    UserHit,
    also_liked,
    cooccurring,
    for_user,
    for_user_explained,
    popular,
    ranker_version,
    user_interests,
)
from db.recs.vector import more_like, semantic, semantic_async, similar_items

__all__ = [
    "Filters",
    "Hit",
    "Interest",
    "InvalidInput",
    "MoreLike",
    "UserHit",
    "also_liked",
    "cooccurring",
    "facets",
    "fetch_items",
    "for_user",
    "for_user_explained",
    "more_like",
    "popular",
    "ranker_version",
    "search_terms",
    "search_text_async",
    "search_title",
    "semantic",
    "semantic_async",
    "similar_items",
    "user_interests",
]
