"""Data functions of item_neighbors: list summaries, stored rows, and writing changed rows.

Every function runs in the caller's transaction. Rows move through binary COPY
(db/pgcopy.py), read and built with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from db.pgcopy import copy_in, copy_out, copy_rows, row_layout


@dataclass(frozen=True)
class ListsSummary:
    """What item_neighbors holds for a model: per listed item, its length and K-th score."""

    item_ids: np.ndarray  # int64, sorted
    lengths: np.ndarray  # int64
    max_rank: np.ndarray  # int64; differs from lengths when a cascade punched a hole
    last_score: np.ndarray  # float32: the lowest score in the list


def lists_summary(*, conn: Connection, model: str) -> ListsSummary:
    """Per listed item of `model`: list length, highest rank and lowest score."""
    rows = conn.execute(
        text(
            "SELECT item_id, count(*), max(rank), min(score) FROM item_neighbors"
            " WHERE model = :m GROUP BY item_id ORDER BY item_id"
        ),
        {"m": model},
    ).all()
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return ListsSummary(
        item_ids=np.array(cols[0], dtype=np.int64),
        lengths=np.array(cols[1], dtype=np.int64),
        max_rank=np.array(cols[2], dtype=np.int64),
        last_score=np.array(cols[3], dtype=np.float32),
    )


def lists_containing(*, conn: Connection, model: str, ids: np.ndarray) -> np.ndarray:
    """Items of `model` whose neighbour list contains any of `ids` (sorted, int64)."""
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    found = conn.execute(
        text(
            "SELECT DISTINCT item_id FROM item_neighbors"
            " WHERE model = :m AND neighbor_id = ANY(:ids) ORDER BY item_id"
        ),
        {"m": model, "ids": [int(i) for i in ids]},
    ).scalars()
    return np.fromiter(found, dtype=np.int64)


ROW_FIELDS = [("item_id", ">i8"), ("rank", ">i2"), ("neighbor_id", ">i8"), ("score", ">f4")]


ROW_DTYPE = row_layout(ROW_FIELDS)


def read_lists(*, conn: Connection, model: str, items: np.ndarray | None) -> np.ndarray:
    """Stored rows of `model` (of `items` only, unless None) as a structured array."""
    where = "" if items is None else " AND item_id = ANY(%s)"
    params: tuple[Any, ...] = (model,) if items is None else (model, [int(i) for i in items])
    sql = (
        "COPY (SELECT item_id, rank, neighbor_id, score FROM item_neighbors WHERE model = %s"
        + where
        + ") TO STDOUT (FORMAT binary)"
    )
    return copy_rows(copy_out(conn, sql, params), ROW_DTYPE)


def found_in(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """Which of `needles` are in the sorted `haystack` (np.isin is ~50x slower at 2M keys)."""
    if len(haystack) == 0:
        return np.zeros(len(needles), dtype=bool)
    at = np.minimum(np.searchsorted(haystack, needles), len(haystack) - 1)
    return np.asarray(haystack[at] == needles)


def pair_keys(item_ids: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    return item_ids.astype(np.int64) * 65536 + ranks.astype(np.int64)  # ranks < 2**15


def write_neighbors(
    *,
    conn: Connection,
    model: str,
    lists: np.ndarray | None,
    item_ids: np.ndarray,
    neighbor_ids: np.ndarray,
    scores: np.ndarray,
) -> int:
    """Make the lists of `lists` (item ids; None: every list of `model`) the given ones.

    `item_ids[i]`'s new list is `neighbor_ids[i]`, `scores[i]`; a list in `lists` without a
    new one is removed. Only rows that differ from the stored ones are written: inserting
    2M rows costs minutes of foreign-key checks, and a refresh mostly finds what is already
    there. Changed rows are staged with COPY and merged with one statement. Rows naming an
    item deleted meanwhile are skipped (a short list, which the next run repairs).
    Returns the number of rows written or deleted.
    """
    n, k = neighbor_ids.shape
    new = np.zeros(n * k, dtype=ROW_DTYPE)
    new["nfields"] = len(ROW_FIELDS)
    new["item_id_len"], new["rank_len"], new["neighbor_id_len"], new["score_len"] = 8, 2, 8, 4
    new["item_id"] = np.repeat(item_ids, k)
    new["rank"] = np.tile(np.arange(1, k + 1, dtype=np.int16), n)
    new["neighbor_id"] = neighbor_ids.reshape(-1)
    new["score"] = scores.reshape(-1)

    old = read_lists(conn=conn, model=model, items=lists)
    old_keys = pair_keys(old["item_id"], old["rank"])
    order = np.argsort(old_keys)
    old, old_keys = old[order], old_keys[order]
    new_keys = pair_keys(new["item_id"], new["rank"])
    order = np.argsort(new_keys)
    new, new_keys = new[order], new_keys[order]
    same = found_in(old_keys, new_keys)
    if len(old):
        at = np.minimum(np.searchsorted(old_keys, new_keys), len(old) - 1)
        # A score that moved by float noise alone is left as it is.
        same &= (old["neighbor_id"][at] == new["neighbor_id"]) & (
            np.abs(old["score"][at].astype(np.float32) - new["score"]) <= 1e-6
        )
    changed = new[~same]
    gone = old[~found_in(new_keys, old_keys)]

    written = 0
    if len(gone):
        written += conn.execute(
            text(
                "DELETE FROM item_neighbors t USING unnest(CAST(:items AS bigint[]),"
                " CAST(:ranks AS smallint[])) AS d(item_id, rank)"
                " WHERE t.model = :m AND t.item_id = d.item_id AND t.rank = d.rank"
            ),
            {"m": model, "items": gone["item_id"].tolist(), "ranks": gone["rank"].tolist()},
        ).rowcount
    if len(changed):
        conn.execute(
            text(
                "CREATE TEMP TABLE IF NOT EXISTS pgrec_neighbors_stage"
                " (item_id bigint, rank smallint, neighbor_id bigint, score real) ON COMMIT DROP"
            )
        )
        conn.execute(text("TRUNCATE pgrec_neighbors_stage"))
        copy_in(conn, "COPY pgrec_neighbors_stage FROM STDIN (FORMAT binary)", changed)
        written += conn.execute(
            text(
                "INSERT INTO item_neighbors AS t (model, item_id, rank, neighbor_id, score)"
                " SELECT :m, s.item_id, s.rank, s.neighbor_id, s.score"
                " FROM pgrec_neighbors_stage s"
                " JOIN items a ON a.id = s.item_id JOIN items b ON b.id = s.neighbor_id"
                " ON CONFLICT (model, item_id, rank) DO UPDATE"
                " SET neighbor_id = EXCLUDED.neighbor_id, score = EXCLUDED.score"
            ),
            {"m": model},
        ).rowcount
    return int(written)


def neighbor_list_depth(*, conn: Connection, model: str) -> int:
    """K of the precomputed neighbour lists of `model` (0 when there are none)."""
    exists = conn.execute(text("SELECT to_regclass('refresh_state') IS NOT NULL")).scalar_one()
    if not exists:
        return 0
    k = conn.execute(
        text("SELECT k FROM refresh_state WHERE model = :model AND job = 'neighbors'"),
        {"model": model},
    ).scalar_one_or_none()
    return int(k or 0)
