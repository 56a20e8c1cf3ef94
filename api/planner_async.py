"""The free-text modes on the event loop: filtered semantic, terms, title and hybrid.

Their `rec.*` calls run on the worker's asyncio connections (api/fast_reads.py), at most
PGREC_QUERY_SLOTS of them in Postgres at once per worker, instead of from worker threads.
Hybrid reads its lists at once: terms and title each on a connection of its own, and the
semantic list from the read model (FAISS, in a thread) or, under a filter the read model
cannot apply, from Postgres as well; its statements see the same data the threaded path's
would (each statement its own snapshot, as in its READ COMMITTED transaction). Rows come
from the read model; lists naming items it does not have yet are finished in a thread with
Postgres (`Planner.finish_listed`, passed in: this module does not import the planner).

`recommend_async` answers None when the threaded `Planner.recommend` must: heavy fields,
no connections open yet, no replica known fit, or a replica that failed the query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio
import numpy as np
from sqlalchemy.exc import OperationalError

import db.recs as recs
from api import fusion
from api.params import ListOptions, Mode
from api.planner_parts import (
    ViewRows,
    listed_page,
    needs_heavy,
    on_asyncio,
    pool_size,
    view_filter,
)
from api.runtime import Runtime
from api.schemas import Page
from api.view import View
from db.async_reads import AsyncReads

# Planner.finish_listed: the page of lists naming items the read model lacks (blocking).
FinishListed = Callable[
    [Mode, dict[str, list[recs.Hit]], ListOptions, np.ndarray | None, View | None], Page
]


async def recommend_async(
    rt: Runtime,
    finish_listed: FinishListed,
    *,
    mode: Mode,
    q: str,
    filters: recs.Filters,
    options: ListOptions,
) -> Page | None:
    if needs_heavy(options) or not on_asyncio(mode, filters):
        return None
    picked = rt.fast.pick(rt.router, rt.view)
    view = rt.view
    if picked is None or view is None:
        return None
    reads, replica = picked
    vector, model = None, ""
    if mode in ("semantic", "hybrid"):
        serving, view = rt.require_serving()
        model, vector = serving.model.name, serving.encoder.cached(q)
        if vector is None:  # a few ms of the model: not on the event loop
            vector = await anyio.to_thread.run_sync(serving.encoder.encode_query, q)
    if replica is None:  # replicas may answer while the primary is down
        rt.fail_fast()
    pool = pool_size(options)
    if mode == "hybrid":  # each list as deep as the fusion was tuned with
        pool = max(pool, fusion.hybrid_depth())
    in_view, keep = view_filter(filters)
    faiss = view if mode == "hybrid" and in_view else None
    calls: dict[str, Awaitable[list[recs.Hit]]] = {}
    if vector is not None and faiss is not None:
        exclude = set(filters.exclude_ids)
        calls["semantic"] = anyio.to_thread.run_sync(faiss.search, vector, pool, exclude, keep)
    elif vector is not None:
        calls["semantic"] = _semantic(reads, model, vector, pool, filters)
    if mode in ("terms", "hybrid"):
        calls["terms"] = _text(reads, "terms", q, pool, filters, hybrid=mode == "hybrid")
    if mode in ("title", "hybrid"):
        calls["title"] = _text(reads, "title", q, pool, filters, hybrid=False)
    answers = await asyncio.gather(*calls.values(), return_exceptions=True)
    failed = [a for a in answers if isinstance(a, BaseException)]
    if failed:
        lost = next((e for e in failed if isinstance(e, OperationalError)), None)
        if replica is None or lost is None:
            raise failed[0]
        # The replica failed (or cancelled a query to replay): skip it for a while; the
        # threaded path reads elsewhere (another replica or the primary).
        rt.router.failed(replica, str(lost.orig))
        rt.fast.retire(replica.name)
        return None
    if replica is not None:
        rt.router.counted_read(replica)
    lists: dict[str, list[recs.Hit]] = {}
    for name, answer in zip(calls, answers, strict=True):
        assert not isinstance(answer, BaseException)  # raised or returned above
        lists[name] = answer
    feedback = mode == "hybrid" and fusion.HYBRID_FEEDBACK is not None
    rows = ViewRows(conn=None, view=view)  # each row read once: here and by the re-rank
    if not _complete(rows, view, lists, options, feedback):
        # Listed items newer than the read model: their rows from Postgres.
        return await anyio.to_thread.run_sync(finish_listed, mode, lists, options, vector, faiss)
    return listed_page(mode, lists, rows, options, vector, faiss, view)


async def _semantic(
    reads: AsyncReads, model: str, vector: np.ndarray, k: int, filters: recs.Filters
) -> list[recs.Hit]:
    async with reads.connection() as conn:
        return await recs.semantic_async(
            conn=conn, model=model, vector=vector, k=k, filters=filters
        )


async def _text(
    reads: AsyncReads, mode: str, q: str, k: int, filters: recs.Filters, *, hybrid: bool
) -> list[recs.Hit]:
    async with reads.connection() as conn:
        try:
            return await recs.search_text_async(conn=conn, mode=mode, q=q, k=k, filters=filters)
        except recs.InvalidInput as err:
            # A query terms cannot read (only stop words, too many terms) leaves terms out
            # of the hybrid instead of failing it (api/blend.py: terms_if_any).
            if hybrid and err.key == "q":
                return []
            raise


def _complete(
    rows: ViewRows,
    view: View,
    lists: dict[str, list[recs.Hit]],
    options: ListOptions,
    feedback: bool,
) -> bool:
    """Whether the read model has the rows of every listed item, and their vectors where
    diversity or hybrid's feedback reads them."""
    ids = list(dict.fromkeys(h.item_id for hits in lists.values() for h in hits))
    if len(rows.get(ids)) != len(ids):
        return False
    if options.rerank.diversity > 0 or feedback:
        return all(view.vector(i) is not None for i in ids)
    return True
