"""Item rows for building responses from hits."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

# Every column a response may show: not the generated search_tsv or content_hash.
_FETCH = text(
    "SELECT id, external_id, title, description, kind, categories, tags, year, price, "
    "available, attributes, popularity, created_at, updated_at "
    "FROM items WHERE id = ANY (CAST(:ids AS bigint[]))"
)


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
