"""The lists a fused mode needs beside its main one: terms for the hybrid, "also liked" for
more-like-these, and how they are fused (api/fusion.py holds the weights)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import Connection

import db.recs as recs
from api import fusion
from api.fusion import Fused, single


def terms_if_any(conn: Connection, q: str, k: int, filters: recs.Filters) -> list[recs.Hit]:
    """Terms' list for the hybrid. A query terms cannot read (only stop words, as in the
    title "It", or too many terms) leaves terms out instead of failing the request: semantic
    and title still answer. Any other bad input (a filter) is still the caller's 400."""
    try:
        with conn.begin_nested():  # the refused statement must not abort the request's
            return recs.search_terms(conn=conn, q=q, k=k, filters=filters)
    except recs.InvalidInput as err:
        if err.key != "q":
            raise
        return []


def more_like(
    conn: Connection,
    vector_hits: list[recs.Hit],
    positive: Sequence[int],
    negative: Sequence[int],
    filters: recs.Filters,
    k: int,
) -> list[Fused]:
    """The centroid's list blended with "people who liked these also liked" (rec.also_liked)
    when these items have any co-occurrence; the centroid's list alone otherwise."""
    also: list[recs.Hit] = []
    if positive:
        exclude = replace(filters, exclude_ids=(*filters.exclude_ids, *negative))
        also = recs.also_liked(conn=conn, items=positive, k=k, filters=exclude)
    if not also:
        return single("more_like", vector_hits)
    return fusion.more_like(vector_hits, also)
