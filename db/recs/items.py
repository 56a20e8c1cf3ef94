"""Item rows for building responses from hits."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from db.recs.calls import translated_errors

# Every column a response may show: not the generated search_tsv or content_hash.
_FETCH = text(
    "SELECT id, external_id, title, description, kind, categories, tags, year, price, "
    "available, attributes, popularity, created_at, updated_at "
    "FROM items WHERE id = ANY (CAST(:ids AS bigint[]))"
)


_FACETS = text("SELECT facet, value, items FROM rec.facets(:k)")


def facets(*, conn: Connection, k: int) -> dict[str, list[tuple[str, int]]]:
    """The `k` most common kinds, categories and tags, each with its number of items."""
    out: dict[str, list[tuple[str, int]]] = {"kind": [], "category": [], "tag": []}
    with translated_errors():
        rows = conn.execute(_FACETS, {"k": k}).all()
    for facet, value, items in rows:
        out[str(facet)].append((str(value), int(items)))
    return out


def fetch_items(*, conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Item rows by id (all public columns), for building responses."""
    wanted = [int(i) for i in ids]
    rows = {row["id"]: dict(row) for row in conn.execute(_FETCH, {"ids": wanted}).mappings()}
    for row in rows.values():
        # Decimal does not survive JSON encoders; prices are display values here.
        if isinstance(row["price"], Decimal):
            row["price"] = float(row["price"])
    # In the order asked for; unknown ids are simply absent.
    return {i: rows[i] for i in dict.fromkeys(wanted) if i in rows}
