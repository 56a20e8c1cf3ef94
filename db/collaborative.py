"""Data functions of item_collaborative, the user mode's EASE lists: read and replace them, and
read each user's items in time order (the lists' sequential part).

Every function runs in the caller's transaction; rows move through binary COPY.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, text

from db.pgcopy import copy_in, copy_out, copy_rows, row_layout

FIELDS = [("item_id", ">i8"), ("rank", ">i2"), ("neighbor_id", ">i8"), ("score", ">f4")]
DTYPE = row_layout(FIELDS)
SEQUENCE_DTYPE = row_layout([("user", ">i4"), ("item_id", ">i8"), ("p", ">f8")])
# Per (user, item): its event weights' sum, in each user's order of last interaction.
SEQUENCES = """
SELECT (dense_rank() OVER (ORDER BY user_id COLLATE "C") - 1)::int4, item_id, p
FROM (SELECT user_id, item_id, sum(rec.event_weight(event, value)::float8) AS p,
             max(occurred_at) AS at
      FROM interactions GROUP BY user_id, item_id) s
ORDER BY user_id COLLATE "C", at, item_id
"""


def rows_of(
    item_ids: np.ndarray, ranks: np.ndarray, neighbor_ids: np.ndarray, scores: np.ndarray
) -> np.ndarray:
    """item_collaborative rows as a structured array in binary COPY layout."""
    rows = np.zeros(len(item_ids), dtype=DTYPE)
    rows["nfields"] = len(FIELDS)
    rows["item_id_len"], rows["rank_len"], rows["neighbor_id_len"], rows["score_len"] = 8, 2, 8, 4
    rows["item_id"], rows["rank"], rows["neighbor_id"] = item_ids, ranks, neighbor_ids
    rows["score"] = scores
    return rows


def read_lists(*, conn: Connection) -> np.ndarray:
    """Every item_collaborative row, ordered by (item_id, rank), in DTYPE."""
    sql = (
        "COPY (SELECT item_id, rank, neighbor_id, score FROM item_collaborative"
        " ORDER BY item_id, rank) TO STDOUT (FORMAT binary)"
    )
    return copy_rows(copy_out(conn, sql, ()), DTYPE)


def read_sequences(*, conn: Connection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, item_ids, preferences): every (user, item) of interactions, each user's items
    oldest first (ties to the smaller id), users numbered in user_id order."""
    rows = copy_rows(copy_out(conn, f"COPY ({SEQUENCES}) TO STDOUT (FORMAT binary)", ()),
                     SEQUENCE_DTYPE)  # fmt: skip
    return (rows["user"].astype(np.int64), rows["item_id"].astype(np.int64),
            rows["p"].astype(np.float64))  # fmt: skip


def replace_all(*, conn: Connection, rows: np.ndarray) -> int:
    """Every list replaced by `rows` (one statement each: readers see old or new lists)."""
    conn.execute(text("DELETE FROM item_collaborative"))
    if len(rows):
        columns = "item_id, rank, neighbor_id, score"
        copy_in(conn, f"COPY item_collaborative ({columns}) FROM STDIN (FORMAT binary)", rows)
    return len(rows)
