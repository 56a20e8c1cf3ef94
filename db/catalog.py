"""Data functions of the catalog items: id lookups, deletes, texts and counts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection, inspect, text

from db.models import Item

# The columns of items a caller reads, in table order: every one but the identity and the
# ones Postgres computes (content_hash, search_tsv).
ITEM_COLUMNS = tuple(
    c.name for c in inspect(Item).columns if c.identity is None and c.computed is None
)


def existing_item_ids(*, conn: Connection, ids: Sequence[int]) -> set[int]:
    """The subset of `ids` that are items."""
    if not ids:
        return set()
    rows = conn.execute(
        text("SELECT id FROM items WHERE id = ANY(:ids)"), {"ids": list(ids)}
    ).scalars()
    return {int(i) for i in rows}


def item_ids_by_external(*, conn: Connection, external_ids: Sequence[str]) -> dict[str, int]:
    """items.id of each known external_id."""
    if not external_ids:
        return {}
    rows = conn.execute(
        text("SELECT external_id, id FROM items WHERE external_id = ANY(:ext)"),
        {"ext": list(external_ids)},
    ).all()
    return {r.external_id: int(r.id) for r in rows}


def delete_item(*, conn: Connection, item_id: int) -> bool:
    """Delete an item (its vectors and interactions cascade); False when there was none."""
    gone = conn.execute(
        text("DELETE FROM items WHERE id = :id RETURNING id"), {"id": item_id}
    ).scalar_one_or_none()
    return gone is not None


def item_texts(*, conn: Connection, ids: np.ndarray) -> list[str]:
    """Title, categories and description of each of `ids`, in that order ('' when gone)."""
    rows = conn.execute(
        text(
            "SELECT id, concat_ws(' ', title, array_to_string(categories, ' '), description)"
            " FROM items WHERE id = ANY(:ids)"
        ),
        {"ids": [int(i) for i in ids]},
    ).all()
    by_id = {int(r[0]): str(r[1]) for r in rows}
    return [by_id.get(int(i), "") for i in ids]


def catalog_counts(*, conn: Connection) -> dict[str, int]:
    """Row counts for /status: items, available items, interactions, users."""
    row = conn.execute(
        text(
            "SELECT (SELECT count(*) FROM items) AS items,"
            " (SELECT count(*) FROM items WHERE available) AS available_items,"
            " (SELECT count(*) FROM interactions) AS interactions,"
            " (SELECT count(DISTINCT user_id) FROM interactions) AS users"
        )
    ).one()
    return {k: int(v) for k, v in row._mapping.items()}
