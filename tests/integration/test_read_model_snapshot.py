"""The read model's one consistent read, split over two backends: the neighbour lists read by
a second connection describe the same snapshot as the items and vectors of the first, even
when the lists change in between."""

from __future__ import annotations

import numpy as np
import psycopg
from sqlalchemy import text

from db import read_model as rm
from db.engine import make_engine
from jobs.neighbors import refresh_neighbors
from tests.support.api import MODEL, seed
from tests.support.cli import query


def _stored_lists(url: str) -> dict[int, list[int]]:
    sql = "SELECT item_id, neighbor_id FROM item_neighbors WHERE model = %s ORDER BY item_id, rank"
    rows = query(url, sql, MODEL)
    lists: dict[int, list[int]] = {}
    for item_id, neighbor_id in rows:
        lists.setdefault(item_id, []).append(neighbor_id)
    return lists


def _as_dict(catalog: rm.Catalog) -> dict[int, list[int]]:
    return {
        int(item_id): [int(n) for n in row if n >= 0]
        for item_id, row in zip(catalog.item_ids, catalog.lists, strict=True)
        if (row >= 0).any()
    }


def test_read_catalog_reads_every_list_as_stored(fresh_db_url: str) -> None:
    seed(fresh_db_url)
    refresh_neighbors(url=fresh_db_url)
    engine = make_engine(fresh_db_url)
    try:
        with rm.consistent_read(engine) as conn:
            catalog = rm.read_catalog(conn=conn)
    finally:
        engine.dispose()
    stored = _stored_lists(fresh_db_url)
    assert stored and catalog.list_k > 0
    assert _as_dict(catalog) == stored
    assert catalog.list_fresh.all()
    assert len(catalog.vector_ids) == len(catalog.item_ids)


def test_a_second_backend_sees_the_first_ones_snapshot(fresh_db_url: str) -> None:
    seed(fresh_db_url)
    refresh_neighbors(url=fresh_db_url)
    before = _stored_lists(fresh_db_url)
    engine = make_engine(fresh_db_url)
    try:
        with rm.consistent_read(engine) as conn, rm.snapshot_reader(conn) as reader:
            # Committed after the snapshot was taken: neither backend may see it.
            with psycopg.connect(fresh_db_url, autocommit=True) as writer:
                writer.execute("DELETE FROM item_neighbors WHERE model = %s", (MODEL,))
            with reader() as other:
                owner, _, neighbor, _ = rm.packed_lists(other, MODEL)
                own = conn.execute(text("SELECT count(*) FROM item_neighbors")).scalar_one()
    finally:
        engine.dispose()
    assert len(owner) == sum(len(v) for v in before.values()) == own
    assert set(np.unique(owner).tolist()) == set(before)
    assert set(neighbor.tolist()) <= {n for v in before.values() for n in v}
    assert _stored_lists(fresh_db_url) == {}  # the delete did commit
