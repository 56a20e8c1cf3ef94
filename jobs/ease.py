"""The user mode's collaborative lists (item_collaborative): EASE plus sequential transitions,
refreshed with co-occurrence.

EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019): with X the users x items 0/1
matrix of likes (the co-occurrence job's p(u, i) >= MIN_PREFERENCE), G = X^T X + lambda I
and P = G^-1, the item-item weights are B = -P / diag(P) with a zero diagonal, the closed
form of the ridge regression of each item's column on all the others. A user's score of j
is sum_i x_ui B_ij; rec.user_candidates takes that sum over the user's recent items.
Each item keeps its K largest positive weights (a dense items x items solve, so only the
MAX_ITEMS items with the most users take part; the others get no list).
LAMBDA and K were chosen on the validation users of `pgrec eval` (bench/eval_usermode.py).

Two additions to B, chosen on the validation users too (docs/user_mode.md: what the next
liked item follows is what was rated just before it): each column divided by its item's
likes^POP_EXPONENT (a slight popularity normalisation), plus TRANSITION_WEIGHT x T, where
T(a, b) counts the users who liked b within WINDOW places after a in their time order,
divided by sqrt(T's row sum of a x column sum of b). The lists stay linear item-item
weights, so rec.user_candidates reads them unchanged.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import sparse
from sqlalchemy import Connection

from db import collaborative as store
from db.cooccurrence import Preferences

log = logging.getLogger(__name__)

LAMBDA = 100.0
# A like: a rating of 4 of 5 (rec.event_weight 1.8), a like or a purchase; 3 stars is not.
MIN_PREFERENCE = 1.5
K = 200
# A dense float64 items x items inverse: 6,000 items take ~290 MB and seconds.
MAX_ITEMS = 6000
POP_EXPONENT = 0.1
WINDOW = 5
TRANSITION_WEIGHT = 0.3


def ease_weights(x: sparse.csr_array, lam: float = LAMBDA) -> np.ndarray:
    """B (items x items, zero diagonal) of the 0/1 users x items matrix `x`."""
    gram: np.ndarray = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    p = np.linalg.inv(gram)
    b: np.ndarray = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


def top_rows(b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row, its k largest positive entries (ties to the smaller column): (rows, ranks,
    columns, scores), ordered by (row, rank)."""
    n = b.shape[1]
    k = min(k, max(n - 1, 0))
    if k == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, np.zeros(0, np.float32)
    # Stable sort of -score: equal scores keep column order.
    order = np.argsort(-b, axis=1, kind="stable")[:, :k]
    scores = np.take_along_axis(b, order, axis=1)
    rows = np.repeat(np.arange(b.shape[0]), k).reshape(-1, k)
    ranks = np.tile(np.arange(1, k + 1), (b.shape[0], 1))
    keep = scores > 0
    return rows[keep], ranks[keep], order[keep], scores[keep].astype(np.float32)


def binary_matrix(prefs: Preferences, max_items: int) -> tuple[sparse.csr_array, np.ndarray]:
    """X (users x items, 0/1 likes) over the `max_items` items most users like, and their ids."""
    liked = prefs.values >= MIN_PREFERENCE
    item_ids, cols, counts = np.unique(
        prefs.item_ids[liked], return_inverse=True, return_counts=True
    )
    users = prefs.users[liked]
    if len(item_ids) > max_items:
        # Most users first, ties to the smaller id (np.unique's order).
        kept = np.sort(np.argsort(-counts, kind="stable")[:max_items])
        where = np.full(len(item_ids), -1)
        where[kept] = np.arange(len(kept))
        cols, item_ids = where[cols], item_ids[kept]
        users, cols = users[cols >= 0], cols[cols >= 0]
    n_users = int(prefs.users.max()) + 1 if len(prefs) else 0
    x = sparse.csr_array((np.ones(len(cols)), (users, cols)), shape=(n_users, len(item_ids)))
    x.data[:] = 1.0  # a (user, item) pair counts once
    return x, item_ids


def transitions(
    users: np.ndarray, cols: np.ndarray, liked: np.ndarray, n: int, window: int = WINDOW
) -> sparse.coo_array:
    """T (n x n) of the sequences `users` (sorted, each user's items in time order), `cols`
    (an item's column, -1 for an item outside the n) and `liked`: pairs (a, b) with b liked
    within `window` places after a, counted per pair, divided by sqrt(row sum x column sum)."""
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    for d in range(1, window + 1):
        same = (users[:-d] == users[d:]) & liked[d:]
        a, b = cols[:-d][same], cols[d:][same]
        kept = (a >= 0) & (b >= 0)
        src.append(a[kept])
        dst.append(b[kept])
    a, b = np.concatenate(src), np.concatenate(dst)
    t = sparse.coo_array((np.ones(len(a)), (a, b)), shape=(n, n))
    t.sum_duplicates()
    out = np.bincount(t.row, weights=t.data, minlength=n)
    into = np.bincount(t.col, weights=t.data, minlength=n)
    t.data = t.data / np.sqrt(out[t.row] * into[t.col])
    return t


def columns_of(item_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Each of `ids`' position in the sorted `item_ids`, -1 where it is absent."""
    at = np.minimum(np.searchsorted(item_ids, ids), max(len(item_ids) - 1, 0))
    found = item_ids[at] == ids if len(item_ids) else np.zeros(len(ids), bool)
    return np.where(found, at, -1)


Sequences = tuple[np.ndarray, np.ndarray, np.ndarray]  # users, item ids, preferences


def list_weights(
    x: sparse.csr_array, item_ids: np.ndarray, sequences: Sequences, *, lam: float = LAMBDA,
    pop_exponent: float = POP_EXPONENT, window: int = WINDOW, weight: float = TRANSITION_WEIGHT,
) -> np.ndarray:  # fmt: skip
    """EASE's B, columns divided by likes^pop_exponent, plus weight x T of `sequences`
    (store.read_sequences' arrays)."""
    b = ease_weights(x, lam)
    b /= np.power(np.asarray(x.sum(axis=0)).ravel(), pop_exponent)[None, :]
    users, items, p = sequences
    cols = columns_of(item_ids, items)
    t = transitions(users, cols, p >= MIN_PREFERENCE, len(item_ids), window)
    b[t.row, t.col] += weight * t.data
    return b


def rebuild(
    conn: Connection, prefs: Preferences, *, lam: float = LAMBDA, k: int = K,
    max_items: int = MAX_ITEMS,
) -> int:  # fmt: skip
    """Recompute item_collaborative from `prefs` on `conn` (its transaction); rows written."""
    x, item_ids = binary_matrix(prefs, max_items)
    if x.shape[1] < 2:
        return store.replace_all(conn=conn, rows=store.rows_of(*(np.zeros(0),) * 4))
    rows, ranks, cols, scores = top_rows(
        list_weights(x, item_ids, store.read_sequences(conn=conn), lam=lam), k
    )
    new = store.rows_of(item_ids[rows], ranks, item_ids[cols], scores)
    written = store.replace_all(conn=conn, rows=new)
    log.debug("collaborative: %d items, %d rows", len(item_ids), written)
    return written
