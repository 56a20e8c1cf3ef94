"""Refresh job of item_cooccurrence and item_stats: "people who liked X also liked Y".

From interactions: p(u, i) = the sum of the user's event weights on the item (rec.event_weight,
in SQL), positive ones only; heavy users are damped, w(u, i) = p(u, i) / log2(1 + n_u) with
n_u the user's number of positive items. With X the users x items matrix of w and B its 0/1
pattern, the score of (i, j) is cos(X_i, X_j) * n_ij / (n_ij + shrinkage), n_ij = (B^T B)_ij
the users who like both. Each item keeps its top K (score, then smaller neighbour id).
The products are sparse and taken a block of items at a time, so no items x items matrix is
ever whole in memory. A run rewrites only the lists that changed; a run that finds the same
interactions and parameters as the last one does nothing. The same run rewrites the user
mode's EASE lists, item_collaborative (jobs/ease.py), from the same preferences.
Schedule: hourly, or after a bulk load of interactions; an unchanged run costs one scan.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import psycopg
from scipy import sparse
from sqlalchemy import Connection, exc

from db import cooccurrence as store
from db.job_runs import job_state, record_batch, record_job_state
from db.neighbors import found_in, pair_keys
from jobs import ease
from jobs.runner import WRITE_ATTEMPTS, exclusive_run, job_connection, recorded_run, snapshot

log = logging.getLogger(__name__)
T = TypeVar("T")

JOB = "cooccurrence"
LOCK_SCOPE = "interactions"  # the advisory lock's key is (JOB, LOCK_SCOPE)
DEFAULT_K = 50
MAX_K = 1000
DEFAULT_SHRINKAGE = 5.0
DEFAULT_MIN_USERS = 1
# Multiply-adds per block of item rows: bounds the block's product (~50 bytes a pair).
BLOCK_WORK = 1 << 20
# A stored score within this of the new one is the same score: re-numbering users changes
# the order of the sums, hence the last bits, and that alone should not rewrite a list.
SCORE_TOLERANCE = 1e-6
# An item deleted (or its lists rewritten) under the write's snapshot: run it again.
RETRY_SQLSTATES = {"23503", "40001", "40P01"}
ONE_BITS = 0x3F800000  # the bits of float32 1.0; a float32 in [0, 1] has bits <= this


def _integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class Params:
    k: int = DEFAULT_K
    shrinkage: float = DEFAULT_SHRINKAGE
    min_users: int = DEFAULT_MIN_USERS

    def check(self) -> None:
        """ValueError naming the option when a parameter is out of range."""
        if not _integer(self.k) or not 1 <= self.k <= MAX_K:
            raise ValueError(f"--k must be an integer between 1 and {MAX_K} (got {self.k!r})")
        if not isinstance(self.shrinkage, numbers.Real) or not (
            math.isfinite(self.shrinkage) and self.shrinkage >= 0
        ):
            raise ValueError(f"--shrinkage must be a number >= 0 (got {self.shrinkage!r})")
        if not _integer(self.min_users) or self.min_users < 1:
            raise ValueError(f"--min-users must be an integer >= 1 (got {self.min_users!r})")

    def signature(self) -> str:
        return f"k={self.k} shrinkage={float(self.shrinkage)!r} min_users={self.min_users}"


@dataclass(frozen=True)
class Neighbors:
    """Top-K lists as flat rows ordered by (item, rank); items are column positions of X."""

    items: np.ndarray  # int64
    ranks: np.ndarray  # int16, 1..K
    neighbors: np.ndarray  # int64
    scores: np.ndarray  # float32
    users: np.ndarray  # int32: n_ij
    pairs: int  # ordered pairs (i, j), i != j, with n_ij >= min_users


@dataclass(frozen=True)
class CooccurrenceStats:
    users: int  # users with a positive preference
    items: int  # items with a positive preference
    pairs: int
    lists: int  # items with a non-empty list
    changed: int  # lists deleted or rewritten
    rows_written: int
    stats_written: int  # item_stats rows inserted, updated or deleted
    collaborative_rows: int = 0  # item_collaborative rows written (jobs/ease.py)


@dataclass(frozen=True)
class CooccurrenceRun:
    unchanged: bool  # same signature as the last run: nothing was computed or written
    stats: CooccurrenceStats | None  # None when unchanged
    signature: str
    seconds: float


def damped_matrix(prefs: store.Preferences) -> tuple[sparse.csr_array, np.ndarray]:
    """X (users x items) of w = p / log2(1 + n_u), and the item id of each column (sorted)."""
    item_ids, cols = np.unique(prefs.item_ids, return_inverse=True)
    n_users = int(prefs.users.max()) + 1 if len(prefs) else 0
    x = sparse.csr_array(
        (prefs.values.astype(np.float64), (prefs.users, cols)), shape=(n_users, len(item_ids))
    )
    per_user = np.diff(x.indptr)
    x.data = x.data / np.log2(1.0 + np.repeat(per_user, per_user))
    return x, item_ids


def _blocks(work: np.ndarray, budget: int) -> Iterator[tuple[int, int]]:
    """Consecutive ranges of rows whose work adds up to about `budget` (at least one row)."""
    start, total = 0, 0
    for row, cost in enumerate(work.tolist()):
        if total and total + cost > budget:
            yield start, row
            start, total = row, 0
        total += cost
    if start < len(work):
        yield start, len(work)


def _top_positions(keys: np.ndarray, bounds: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` smallest keys of each segment bounds[r]:bounds[r + 1]."""
    lengths = np.diff(bounds)
    short = np.repeat(lengths <= k, lengths)
    picked = [np.flatnonzero(short)]
    for row in np.flatnonzero(lengths > k).tolist():
        a, b = int(bounds[row]), int(bounds[row + 1])
        picked.append(a + np.argpartition(keys[a:b], k - 1)[:k])
    return np.sort(np.concatenate(picked))


def top_neighbors(
    x: sparse.csr_array, *, k: int, shrinkage: float, min_users: int, block_work: int = BLOCK_WORK
) -> Neighbors:
    """Each column's top `k` other columns by shrunk cosine; see the module docstring."""
    n_items = x.shape[1]
    col_bits = max(int(n_items).bit_length(), 1)
    if 30 + col_bits > 63:
        raise ValueError(f"too many items for one run: {n_items}")
    xn = x.copy()
    norms = np.sqrt(np.bincount(x.indices, weights=x.data**2, minlength=n_items))
    xn.data = x.data / norms[x.indices]
    ones = sparse.csr_array((np.ones(x.nnz, dtype=np.int32), x.indices, x.indptr), x.shape)
    xt, ones_t = xn.T.tocsr(), ones.T.tocsr()
    work = ones_t @ np.diff(x.indptr).astype(np.int64)  # multiply-adds of each item's row
    parts: list[tuple[np.ndarray, ...]] = []
    pairs = 0
    for start, stop in _blocks(work, block_work):
        cos = xt[start:stop] @ xn
        together = ones_t[start:stop] @ ones
        if not (
            np.array_equal(cos.indptr, together.indptr)
            and np.array_equal(cos.indices, together.indices)
        ):
            raise AssertionError("cosine and co-user products differ in pattern")
        rows = np.repeat(np.arange(start, stop), np.diff(cos.indptr))
        keep = (cos.indices != rows) & (together.data >= min_users)
        rows, cols, n_ij = rows[keep], cos.indices[keep].astype(np.int64), together.data[keep]
        pairs += len(rows)
        scores = np.minimum(cos.data[keep] * (n_ij / (n_ij + float(shrinkage))), 1.0)
        scores32 = scores.astype(np.float32)
        # One unique int64 per pair that sorts as (score desc, neighbour asc) within a row.
        keys = ((ONE_BITS - scores32.view(np.int32)).astype(np.int64) << col_bits) | cols
        bounds = np.concatenate(([0], np.cumsum(np.bincount(rows - start, minlength=stop - start))))
        at = _top_positions(keys, bounds, k)
        parts.append((rows[at], keys[at], cols[at], scores32[at], n_ij[at].astype(np.int32)))
    if not parts:
        parts.append(
            (np.zeros(0, np.int64),) * 3 + (np.zeros(0, np.float32), np.zeros(0, np.int32))
        )
    rows, keys, cols, scores32, n_ij = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.lexsort((keys, rows))
    rows = rows[order]
    ranks = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left") + 1
    return Neighbors(
        items=rows,
        ranks=ranks.astype(np.int16),
        neighbors=cols[order],
        scores=scores32[order],
        users=n_ij[order],
        pairs=pairs,
    )


def changed_lists(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Item ids whose list in `new` differs from `old` (rows in store.LIST_DTYPE), sorted."""
    old_keys, new_keys = (
        pair_keys(old["item_id"], old["rank"]),
        pair_keys(new["item_id"], new["rank"]),
    )
    old, old_keys = old[np.argsort(old_keys)], np.sort(old_keys)
    new, new_keys = new[np.argsort(new_keys)], np.sort(new_keys)
    same = found_in(old_keys, new_keys)
    if len(old):
        at = np.minimum(np.searchsorted(old_keys, new_keys), len(old) - 1)
        same &= (old["neighbor_id"][at] == new["neighbor_id"]) & (old["users"][at] == new["users"])
        diff = np.abs(old["score"][at].astype(np.float64) - new["score"].astype(np.float64))
        same &= diff <= SCORE_TOLERANCE
    gone = ~found_in(new_keys, old_keys)
    return np.union1d(new["item_id"][~same], old["item_id"][gone]).astype(np.int64)


def stored_params(conn: Connection) -> Params:
    """The parameters of the last run (job_state), else the defaults: what later runs and
    the ranker's rolled-back rebuild should use, so the lists keep the operator's choice."""
    state = job_state(conn=conn, job=JOB)
    d = state.details if state is not None else {}
    params = Params(
        k=d.get("k", DEFAULT_K),
        shrinkage=d.get("shrinkage", DEFAULT_SHRINKAGE),
        min_users=d.get("min_users", DEFAULT_MIN_USERS),
    )
    params.check()
    return params


def rebuild(conn: Connection, params: Params | None = None) -> CooccurrenceStats:
    """Recompute item_cooccurrence and item_stats on `conn`, in its transaction; no commit.

    No lock and no job_state: a caller may roll it all back (the ranker trains that way).
    """
    params = params or Params()
    params.check()
    started = time.perf_counter()
    prefs = store.read_preferences(conn=conn)
    x, item_ids = damped_matrix(prefs)
    loaded = time.perf_counter()
    top = top_neighbors(x, k=params.k, shrinkage=params.shrinkage, min_users=params.min_users)
    computed = time.perf_counter()
    new = store.rows_of(
        item_ids[top.items], top.ranks, item_ids[top.neighbors], top.scores, top.users
    )
    changed = changed_lists(store.read_lists(conn=conn), new)
    rows = store.replace_lists(
        conn=conn, items=changed, rows=new[found_in(changed, new["item_id"])]
    )
    stats_written = store.merge_item_stats(conn=conn)
    collaborative = ease.rebuild(conn, prefs)
    log.debug(
        "cooccurrence: loaded %.2fs, computed %.2fs, written %.2fs",
        loaded - started,
        computed - loaded,
        time.perf_counter() - computed,
    )
    return CooccurrenceStats(
        users=x.shape[0],
        items=x.shape[1],
        pairs=top.pairs,
        lists=len(np.unique(top.items)),
        changed=len(changed),
        rows_written=rows,
        stats_written=stats_written,
        collaborative_rows=collaborative,
    )


def _retrying(write: Callable[[], T]) -> T:
    """`write` again when an item deleted meanwhile fails its FK check or its snapshot."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            return write()
        except (exc.DBAPIError, psycopg.Error) as err:  # COPY raises psycopg's own errors
            state = getattr(getattr(err, "orig", err), "sqlstate", None)
            if state not in RETRY_SQLSTATES or attempt == WRITE_ATTEMPTS:
                raise
            log.warning("cooccurrence: concurrent change (%s), running again", state)
    raise AssertionError("unreachable")


def _refresh(
    conn: Connection, params: Params, force: bool, run_id: int, started: float
) -> CooccurrenceRun:
    """Compare signatures; rebuild and record the state, all in one transaction."""
    # One snapshot for the signature, the preferences, the stored lists and item_stats.
    with snapshot(conn):
        signature = f"{store.interactions_signature(conn=conn)} {params.signature()}"
        state = job_state(conn=conn, job=JOB)
        if not force and state is not None and state.signature == signature:
            return CooccurrenceRun(True, None, signature, time.perf_counter() - started)
        stats = rebuild(conn, params)
        seconds = time.perf_counter() - started
        details: dict[str, Any] = {**asdict(stats), **asdict(params)}
        record_job_state(conn=conn, job=JOB, signature=signature, seconds=seconds, details=details)
    return CooccurrenceRun(False, stats, signature, time.perf_counter() - started)


def refresh_cooccurrence(
    *,
    url: str | None = None,
    k: int = DEFAULT_K,
    shrinkage: float = DEFAULT_SHRINKAGE,
    min_users: int = DEFAULT_MIN_USERS,
    force: bool = False,
) -> CooccurrenceRun:
    """Bring item_cooccurrence and item_stats up to date, unless interactions are unchanged."""
    params = Params(k=k, shrinkage=shrinkage, min_users=min_users)
    params.check()
    started = time.perf_counter()
    with (
        job_connection(url) as conn,
        recorded_run(conn.engine, JOB, None) as run_id,
        exclusive_run(conn, JOB, LOCK_SCOPE),
    ):
        run = _retrying(lambda: _refresh(conn, params, force, run_id, started))
        if run.stats is not None:
            # Its own transaction, not the REPEATABLE READ one of the refresh: the heartbeat
            # thread updates this job_runs row meanwhile (a conflict there would make every
            # run longer than one beat start over).
            with conn.begin():
                record_batch(conn, run_id=run_id, items=run.stats.changed, seconds=run.seconds)
    if run.unchanged:
        log.info("cooccurrence unchanged: %s (%.1fs)", run.signature, run.seconds)
    else:
        log.info("cooccurrence refreshed: %s seconds=%.1f", run.stats, run.seconds)
    return run
