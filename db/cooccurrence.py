"""Data functions of the co-occurrence job: preferences, item_cooccurrence, item_stats.

Every function runs in the caller's transaction. Preferences and lists move through binary
COPY (db/pgcopy.py), so a rebuild reads and writes ~2M rows in
seconds rather than minutes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, text

from db.pgcopy import copy_in, copy_out, copy_rows, row_layout

# p(u, i): the sum of the user's event weights on the item. rec.event_weight (db/sql/users)
# is the one definition of what an event is worth; it returns real, summed here in float8.
# Only p > 0 is kept, users numbered 0.. in the order of their ids.
PREFERENCES = """
SELECT (dense_rank() OVER (ORDER BY user_id COLLATE "C") - 1)::int4, item_id, p
FROM (SELECT user_id, item_id, sum(rec.event_weight(event, value)::float8) AS p
      FROM interactions GROUP BY user_id, item_id) s
WHERE p > 0
"""

# Per item with any interaction. Rows that did not change are not rewritten.
MERGE_STATS = """
WITH per_user AS (
  SELECT item_id, sum(rec.event_weight(event, value)::float8) AS p, max(occurred_at) AS last_at
  FROM interactions GROUP BY item_id, user_id
), fresh AS (
  SELECT item_id, count(*)::int AS users, count(*) FILTER (WHERE p > 0)::int AS positive_users,
         coalesce(sum(p) FILTER (WHERE p > 0), 0)::real AS preference, max(last_at) AS last_at
  FROM per_user GROUP BY item_id
), gone AS (
  DELETE FROM item_stats s WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.item_id = s.item_id)
  RETURNING 1
), put AS (
  INSERT INTO item_stats AS s (item_id, users, positive_users, preference, last_at)
  SELECT item_id, users, positive_users, preference, last_at FROM fresh ORDER BY item_id
  ON CONFLICT (item_id) DO UPDATE SET users = EXCLUDED.users,
    positive_users = EXCLUDED.positive_users, preference = EXCLUDED.preference,
    last_at = EXCLUDED.last_at
  WHERE (s.users, s.positive_users, s.preference, s.last_at)
    IS DISTINCT FROM (EXCLUDED.users, EXCLUDED.positive_users, EXCLUDED.preference,
                      EXCLUDED.last_at)
  RETURNING 1
)
SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM put)
"""

# A checksum of every interaction, field by field (timestamps as epoch, values as their
# bits, so no session setting changes it): any insert, delete or update changes it.
SIGNATURE = """
SELECT count(*), max(id), max(occurred_at),
       coalesce(bit_xor(hashtextextended(concat_ws('|', id, user_id, item_id, event,
         encode(float4send(value), 'hex'), extract(epoch FROM occurred_at)), 0)), 0)
FROM interactions
"""

LIST_FIELDS = [
    ("item_id", ">i8"),
    ("rank", ">i2"),
    ("neighbor_id", ">i8"),
    ("score", ">f4"),
    ("users", ">i4"),
]


LIST_DTYPE = row_layout(LIST_FIELDS)
PREFERENCE_DTYPE = row_layout([("user", ">i4"), ("item_id", ">i8"), ("p", ">f8")])


@dataclass(frozen=True)
class Preferences:
    """Positive preferences p(u, i), one per (user, item)."""

    users: np.ndarray  # int64 user numbers 0..n-1 (in user_id order)
    item_ids: np.ndarray  # int64
    values: np.ndarray  # float64, > 0

    def __len__(self) -> int:
        return len(self.users)


def read_preferences(*, conn: Connection) -> Preferences:
    """Every positive p(u, i) computed from interactions with rec.event_weight."""
    sql = f"COPY ({PREFERENCES}) TO STDOUT (FORMAT binary)"
    rows = copy_rows(copy_out(conn, sql, ()), PREFERENCE_DTYPE)
    return Preferences(
        users=rows["user"].astype(np.int64),
        item_ids=rows["item_id"].astype(np.int64),
        values=rows["p"].astype(np.float64),
    )


def interactions_signature(*, conn: Connection) -> str:
    """A short text that changes whenever any interaction is added, removed or changed."""
    count, max_id, max_at, checksum = conn.execute(text(SIGNATURE)).one()
    at = "-" if max_at is None else max_at.astimezone(dt.UTC).isoformat()
    return (
        f"interactions={count} max_id={max_id or 0} max_at={at} xor={checksum & (2**64 - 1):016x}"
    )


def rows_of(
    item_ids: np.ndarray,
    ranks: np.ndarray,
    neighbor_ids: np.ndarray,
    scores: np.ndarray,
    users: np.ndarray,
) -> np.ndarray:
    """item_cooccurrence rows as a structured array in binary COPY layout."""
    rows = np.zeros(len(item_ids), dtype=LIST_DTYPE)
    rows["nfields"] = len(LIST_FIELDS)
    rows["item_id_len"], rows["rank_len"], rows["neighbor_id_len"] = 8, 2, 8
    rows["score_len"], rows["users_len"] = 4, 4
    rows["item_id"], rows["rank"], rows["neighbor_id"] = item_ids, ranks, neighbor_ids
    rows["score"], rows["users"] = scores, users
    return rows


def read_lists(*, conn: Connection) -> np.ndarray:
    """Every item_cooccurrence row, ordered by (item_id, rank), in LIST_DTYPE."""
    sql = (
        "COPY (SELECT item_id, rank, neighbor_id, score, users FROM item_cooccurrence"
        " ORDER BY item_id, rank) TO STDOUT (FORMAT binary)"
    )
    return copy_rows(copy_out(conn, sql, ()), LIST_DTYPE)


def replace_lists(*, conn: Connection, items: np.ndarray, rows: np.ndarray) -> int:
    """Delete the lists of `items`, then COPY in `rows` (their new lists); rows written."""
    if len(items) == 0:
        return 0
    conn.execute(
        text("DELETE FROM item_cooccurrence WHERE item_id = ANY(:ids)"),
        {"ids": [int(i) for i in items]},
    )
    if len(rows):
        columns = "item_id, rank, neighbor_id, score, users"
        copy_in(conn, f"COPY item_cooccurrence ({columns}) FROM STDIN (FORMAT binary)", rows)
    return len(rows)


def merge_item_stats(*, conn: Connection) -> int:
    """Make item_stats what the interactions say now; returns the rows written or deleted."""
    return int(conn.execute(text(MERGE_STATS)).scalar_one())
