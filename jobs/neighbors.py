"""Refresh job of item_neighbors: exact top-K cosine neighbours of every current vector."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass

import faiss
import numpy as np
from sqlalchemy import Connection

from db import neighbors as store
from db.job_runs import record_refresh, refresh_state
from db.vectors import Vectors, load_current_vectors
from jobs.runner import commit_with_retry, model_refresh, snapshot

log = logging.getLogger(__name__)

# Exact search is a FAISS IndexFlatIP over the model's normalised vectors, queried in
# batches. An incremental run (the default) recomputes only the lists that can differ from a
# full recompute: lists of changed items, lists that name a changed or stale item or lost a
# row to a cascade delete, and lists that a changed vector now enters. The last test is
# exact, not approximate: a list keeps its members unless a changed vector scores at least
# its K-th score. Each changed vector touches about 2K lists (those it leaves and enters).
# Schedule: after `pgrec embed`, or every few minutes next to a running worker.
JOB = "neighbors"
DEFAULT_K = 50
MAX_K = 1000
BATCH = 4096
RESCORE_BATCH = 256  # 256 x 55 candidates x 384 float64: ~40 MB at a time
RESCORE_MARGIN = 4
# Scores of one pair computed by different kernels differ in the last float32 bits; erring
# towards recomputing keeps the incremental table identical to a full run.
SCORE_SLACK = 1e-5
# Beyond this share of lists to recompute, one full pass is cheaper than the bookkeeping.
FULL_ABOVE = 0.5


@dataclass(frozen=True)
class Plan:
    full: bool
    lists: np.ndarray | None  # item ids whose lists are replaced (None: every list)
    rows: np.ndarray  # positions in the vectors whose lists are computed
    changed: int  # new, re-embedded, stale or removed vectors since the last run


@dataclass(frozen=True)
class NeighborsRun:
    model: str
    items: int
    changed: int
    recomputed: int
    rows: int
    full: bool
    seconds: float


def set_threads(threads: int | None = None) -> int:
    """FAISS threads: the CPUs this process may run on (not the host's count), unless given."""
    n = threads or len(os.sched_getaffinity(0))
    faiss.omp_set_num_threads(n)
    return n


def flat_index(matrix: np.ndarray) -> faiss.IndexFlatIP:
    index = faiss.IndexFlatIP(matrix.shape[1])
    index.add(matrix)
    return index


def top_k(
    index: faiss.IndexFlatIP, matrix: np.ndarray, rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-`k` (positions, scores) of each `matrix[rows]` in `index`, self excluded.

    FAISS finds a few candidates more than needed; they are rescored in float64 and ordered
    by (score, position). FAISS's float32 scores depend on how queries are blocked, so
    without this, near-ties (thousands among 2M pairs) swap places between an incremental
    and a full run. Fewer than `k` columns come back when the index holds `k` or fewer.
    """
    fetch = min(k + 1 + RESCORE_MARGIN, index.ntotal)
    width = max(min(k, index.ntotal - 1), 0)
    out_pos = np.empty((len(rows), width), dtype=np.int64)
    out_score = np.empty((len(rows), width), dtype=np.float32)
    if width == 0:
        return out_pos, out_score
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        _, found = index.search(matrix[batch], fetch)
        for sub in range(0, len(batch), RESCORE_BATCH):
            queries = batch[sub : sub + RESCORE_BATCH]
            pos = found[sub : sub + RESCORE_BATCH]
            scores = np.einsum(
                "bd,bkd->bk", matrix[queries].astype(np.float64), matrix[pos].astype(np.float64)
            )
            scores[pos == queries[:, None]] = -np.inf  # self goes last, then is cut
            order = np.lexsort((pos, -scores), axis=1)[:, :width]
            at = slice(start + sub, start + sub + len(queries))
            out_pos[at] = np.take_along_axis(pos, order, axis=1)
            out_score[at] = np.take_along_axis(scores, order, axis=1)
    return out_pos, out_score


def best_scores(matrix: np.ndarray, targets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each of `matrix[rows]`, its highest inner product with any of `matrix[targets]`."""
    if len(targets) == 0 or len(rows) == 0:
        return np.full(len(rows), -np.inf, dtype=np.float32)
    scores, _ = flat_index(matrix[targets]).search(matrix[rows], 1)
    return np.asarray(scores[:, 0])


def _aligned(lists: store.ListsSummary, ids: np.ndarray) -> tuple[np.ndarray, ...]:
    """(listed, length, max_rank, last_score) of each of `ids` (sorted) in `lists`."""
    if len(lists.item_ids) == 0:
        zeros = np.zeros(len(ids), dtype=np.int64)
        return zeros.astype(bool), zeros, zeros, np.full(len(ids), np.inf, dtype=np.float32)
    at = np.minimum(np.searchsorted(lists.item_ids, ids), len(lists.item_ids) - 1)
    listed = lists.item_ids[at] == ids
    return (
        listed,
        np.where(listed, lists.lengths[at], 0),
        np.where(listed, lists.max_rank[at], 0),
        np.where(listed, lists.last_score[at], np.inf),
    )


def plan(*, conn: Connection, model: str, vectors: Vectors, k: int, full: bool) -> Plan:
    """Which lists to recompute so that the table ends up equal to a full recompute."""
    n = len(vectors)
    state = refresh_state(conn=conn, model=model, job=JOB)
    if full or state is None or state.k != k or state.watermark is None:
        return Plan(full=True, lists=None, rows=np.arange(n), changed=n)
    lists = store.lists_summary(conn=conn, model=model)
    listed, length, max_rank, last_score = _aligned(lists, vectors.ids)
    watermark = np.datetime64(state.watermark.astimezone(dt.UTC).replace(tzinfo=None), "us")
    changed = (vectors.embedded_at >= watermark) | ~listed
    # Listed without a current vector: embedding deleted or content changed since.
    gone = np.setdiff1d(lists.item_ids, vectors.ids)
    holders = store.lists_containing(
        conn=conn, model=model, ids=np.union1d(vectors.ids[changed], gone)
    )
    dirty = changed | np.isin(vectors.ids, holders)
    # Short lists or lists with a hole lost rows when a neighbour was deleted (cascade).
    dirty |= listed & ((length < min(k, n - 1)) | (max_rank != length))
    rest = np.flatnonzero(~dirty)
    entering = best_scores(vectors.matrix, np.flatnonzero(changed), rest)
    dirty[rest[entering >= last_score[rest] - SCORE_SLACK]] = True
    count = int(changed.sum()) + len(gone)
    if dirty.sum() > FULL_ABOVE * n:
        return Plan(full=True, lists=None, rows=np.arange(n), changed=count)
    replaced = np.union1d(vectors.ids[dirty], gone)
    return Plan(full=False, lists=replaced, rows=np.flatnonzero(dirty), changed=count)


def _write(
    conn: Connection,
    model: str,
    vectors: Vectors,
    todo: Plan,
    k: int,
    floor: dt.datetime,
    started: float,
) -> int:
    """Compute the planned lists and swap them in with the run's state, in one transaction."""
    searched = time.perf_counter()
    pos, scores = top_k(flat_index(vectors.matrix), vectors.matrix, todo.rows, k)
    log.debug(
        "neighbors: %d lists searched in %.1fs", len(todo.rows), time.perf_counter() - searched
    )

    def write() -> int:
        rows = store.write_neighbors(
            conn=conn,
            model=model,
            lists=todo.lists,
            item_ids=vectors.ids[todo.rows],
            neighbor_ids=vectors.ids[pos],
            scores=scores,
        )
        record_refresh(
            conn=conn,
            model=model,
            job=JOB,
            watermark=floor,
            items=len(vectors),
            changed=todo.changed,
            k=k,
            mode="full" if todo.full else "incremental",
            seconds=time.perf_counter() - started,
        )
        return rows

    writing = time.perf_counter()
    rows = commit_with_retry(conn, write, JOB)
    log.debug("neighbors: %d rows written in %.1fs", rows, time.perf_counter() - writing)
    return rows


def refresh_neighbors(
    *,
    url: str | None = None,
    model: str | None = None,
    k: int = DEFAULT_K,
    full: bool = False,
    threads: int | None = None,
) -> NeighborsRun:
    """Bring item_neighbors of `model` (default: the active one) up to date and record the run."""
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}")
    started = time.perf_counter()
    set_threads(threads)
    with model_refresh(url, JOB, model) as job:
        with snapshot(job.conn):
            # One snapshot for the vectors and the lists they are compared with.
            vectors = load_current_vectors(conn=job.conn, model=job.model)
            todo = plan(conn=job.conn, model=job.model, vectors=vectors, k=k, full=full)
        log.debug("neighbors: loaded and planned in %.1fs", time.perf_counter() - started)
        rows = _write(job.conn, job.model, vectors, todo, k, job.floor, started)
    run = NeighborsRun(
        model=job.model,
        items=len(vectors),
        changed=todo.changed,
        recomputed=len(todo.rows),
        rows=rows,
        full=todo.full,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "neighbors refreshed: model=%s items=%d changed=%d recomputed=%d rows_written=%d "
        "mode=%s seconds=%.1f",
        run.model,
        run.items,
        run.changed,
        run.recomputed,
        run.rows,
        "full" if run.full else "incremental",
        run.seconds,
    )
    return run
