"""The query planner: which backend answers (the read model or Postgres), then re-ranking.

- Vector queries whose filters the read model applies (`exclude`, `available`) are answered
  from it alone: item-to-item from the precomputed neighbour lists while n fits in them
  (the rule of rec.similar_items), else an exact FAISS search over the mapped index plus
  this worker's overlay of recent changes; rows come from the read model too, so these
  need no Postgres round trip (one, for description or attributes when asked for). They
  keep answering while Postgres is down, flagged `stale`.
- Every other filter goes to the `rec.*` SQL functions through `db.recs` (full recall
  under filters); terms, title and the user mode are SQL too.

Everything here may block (database, FAISS, embedding): handlers call it from worker
threads, except `similar_from_lists`, cheap enough for the event loop, and
`recommend_fast`, a coroutine: filtered semantic, terms, title and hybrid queries on
asyncio connections (api/planner_async.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from litestar.exceptions import NotFoundException
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

import db.recs as recs
from api import blend, fusion
from api.errors import BadParameter
from api.fusion import Fused, single
from api.outage import DatabaseUnavailable
from api.params import ListOptions, Mode, check_text
from api.planner_async import recommend_async
from api.planner_parts import (
    MAX_POOL,
    Rows,
    ViewFirstRows,
    ViewRows,
    add_reasons,
    finish,
    group_value,
    json_value,
    listed_page,
    more_like_vector,
    needs_heavy,
    only_excludes,
    pool_size,
    view_filter,
)
from api.runtime import Runtime
from api.schemas import FromItems, Page
from api.view import Keep, View
from db import read_model as rm
from db.variants import use_ranker

__all__ = [
    "MAX_POOL",
    "Planner",
    "group_value",
    "json_value",
    "more_like_vector",
    "only_excludes",
    "pool_size",
]


class Planner:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    # -- endpoints -------------------------------------------------------------------------

    def recommend(self, *, mode: Mode, q: str, filters: recs.Filters, options: ListOptions) -> Page:
        """Free-text modes: semantic, terms, title, hybrid (the others fused, api/fusion.py)."""
        pool = pool_size(options)
        in_view, keep = view_filter(filters)
        exclude = set(filters.exclude_ids)
        if mode == "semantic" and in_view:
            serving, view = self.rt.require_serving()
            vector = serving.encoder.encode_query(q)
            hits = view.search(vector, pool, exclude, keep)
            return self._view_page("semantic", view, single("semantic", hits), options)
        pair = self.rt.require_serving() if mode in ("semantic", "hybrid") else None
        with self.rt.read() as conn:
            if mode != "hybrid":  # one statement: no BEGIN and ROLLBACK round trips
                conn.execution_options(isolation_level="AUTOCOMMIT")
            rows = self._rows(conn, options)
            lists: dict[str, list[recs.Hit]] = {}
            backend = "postgres"
            if mode == "hybrid":  # each list as deep as the fusion was tuned with
                pool = max(pool, fusion.hybrid_depth())
            if pair is not None:
                serving, view = pair
                vector = serving.encoder.encode_query(q)
                if in_view:
                    lists["semantic"], backend = view.search(vector, pool, exclude, keep), "faiss"
                else:
                    lists["semantic"] = recs.semantic(
                        conn=conn, model=serving.model.name, vector=vector, k=pool, filters=filters
                    )
            if mode == "terms":
                lists["terms"] = recs.search_terms(conn=conn, q=q, k=pool, filters=filters)
            elif mode == "hybrid":
                lists["terms"] = blend.terms_if_any(conn, q, pool, filters)
            if mode in ("title", "hybrid"):
                lists["title"] = recs.search_title(conn=conn, q=q, k=pool, filters=filters)
            faiss = pair[1] if pair and backend == "faiss" else None
            query = vector if pair else None
            return listed_page(mode, lists, rows, options, query, faiss, self.rt.view)

    def finish_listed(
        self,
        mode: Mode,
        lists: dict[str, list[recs.Hit]],
        options: ListOptions,
        vector: np.ndarray | None,
        faiss: View | None,
    ) -> Page:
        """`listed_page` (api/planner_parts.py) for lists read on asyncio connections that
        name items the read model does not have yet: their rows (and vectors) from Postgres."""
        with self.rt.read() as conn:
            rows = self._rows(conn, options)
            return listed_page(mode, lists, rows, options, vector, faiss, self.rt.view)

    async def recommend_fast(
        self, *, mode: Mode, q: str, filters: recs.Filters, options: ListOptions
    ) -> Page | None:
        """api/planner_async.py: None when `recommend` must answer."""
        return await recommend_async(
            self.rt, self.finish_listed, mode=mode, q=q, filters=filters, options=options
        )

    def similar_from_lists(
        self, *, item_id: int, filters: recs.Filters, options: ListOptions
    ) -> Page | None:
        """The answer when the read model's neighbour lists give it (cheap: microseconds),
        else None (a search, or Postgres, must answer: call `similar` from a thread)."""
        view = self.rt.view
        in_view, keep = view_filter(filters)
        if view is None or not in_view or keep is not None or needs_heavy(options):
            return None
        return self._view_similar(view, item_id, filters, keep, options, search=False)

    def similar(self, *, item_id: int, filters: recs.Filters, options: ListOptions) -> Page:
        """Items like one item: neighbour lists or FAISS from the read model, else pgvector."""
        view = self.rt.view
        in_view, keep = view_filter(filters)
        if view is not None and in_view:
            page = self._view_similar(view, item_id, filters, keep, options, search=True)
            assert page is not None
            return page
        if view is None:
            self.rt.request_load()  # Postgres answers meanwhile
        with self.rt.read() as conn:
            rows = Rows(conn)
            if not rows.get([item_id]):
                raise NotFoundException(f"item {item_id} not found")
            try:
                hits = recs.similar_items(
                    conn=conn, item_id=item_id, k=pool_size(options), filters=filters
                )
            except LookupError as err:
                raise NotFoundException(f"item {item_id} not found") from err
            results = finish(rows, single("similar", hits), options, view)
        return Page("similar", "postgres", len(results), results)

    def from_items(self, *, body: FromItems, filters: recs.Filters, options: ListOptions) -> Page:
        """More like these: the average-vector strategy; unknown ids come back as missing.

        With `user_id`: the user mode, with these items as extra likes and dislikes.
        """
        positive, negative = list(dict.fromkeys(body.positive)), list(dict.fromkeys(body.negative))
        both = set(positive) & set(negative)
        if both:
            raise BadParameter("negative", f"item {min(both)} is also in positive")
        weights = dict(body.weights)
        stray = set(weights) - set(positive) - set(negative)
        if stray:
            raise BadParameter("weights", f"item {min(stray)} is in neither positive nor negative")
        if body.user_id is not None:
            if weights:
                raise BadParameter("weights", "not taken with user_id (the ranking model weighs)")
            user_id = check_text("user_id", body.user_id)
            with self.rt.read() as conn:
                rows = Rows(conn)
                alive = rows.get([*positive, *negative])
                page = self._user_page(
                    rows,
                    "more_like",
                    user_id,
                    filters,
                    options,
                    positive=[i for i in positive if i in alive],
                    negative=[i for i in negative if i in alive],
                )
            page.missing_ids = [i for i in (*positive, *negative) if i not in alive]
            return page
        pool = pool_size(options)
        view = self.rt.view
        in_view, keep = view_filter(filters)
        if view is not None and in_view:
            known = {
                i: v
                for i in dict.fromkeys((*positive, *negative))
                if (v := view.vector(i)) is not None
            }
            missing = [i for i in (*positive, *negative) if i not in known]
            pos = [i for i in positive if i in known]
            neg = [i for i in negative if i in known]
            hits: list[recs.Hit] = []
            if pos:
                query = more_like_vector(
                    [known[i] for i in pos],
                    [known[i] for i in neg],
                    [weights.get(i, 1.0) for i in pos],
                    [weights.get(i, 1.0) for i in neg],
                )
                hits = view.search(query, pool, {*filters.exclude_ids, *positive, *negative}, keep)
            blended = self._also_liked(hits, positive, negative, filters, pool)
            page = self._view_page("more_like", view, blended, options)
            page.missing_ids = missing
            return page
        if view is None:
            self.rt.request_load()
        with self.rt.read() as conn:
            rows = Rows(conn)
            found = recs.more_like(
                conn=conn,
                positive=positive,
                negative=negative,
                weights=weights or None,
                k=pool,
                filters=filters,
            )
            candidates = blend.more_like(conn, found.hits, positive, negative, filters, pool)
            results = finish(rows, candidates, options, view)
        page = Page("more_like", "postgres", len(results), results)
        page.missing_ids = list(found.missing_ids)
        return page

    def _also_liked(
        self,
        hits: list[recs.Hit],
        positive: Sequence[int],
        negative: Sequence[int],
        filters: recs.Filters,
        pool: int,
    ) -> list[Fused]:
        """The centroid's hits blended with co-occurrence (one read: rec.also_liked); the
        hits alone while Postgres is down (the read model still answers)."""
        if not self.rt.database_up:
            return single("more_like", hits)
        try:
            with self.rt.read() as conn:
                return blend.more_like(conn, hits, positive, negative, filters, pool)
        except (DatabaseUnavailable, OperationalError):  # went down meanwhile: still answer
            return single("more_like", hits)

    def for_user(self, *, user_id: str, filters: recs.Filters, options: ListOptions) -> Page:
        """The hybrid user mode; seen items are left out, an unknown user gets popular items."""
        with self.rt.read() as conn:
            return self._user_page(Rows(conn), "user", user_id, filters, options)

    def _user_page(
        self,
        rows: Rows,
        mode: str,
        user_id: str,
        filters: recs.Filters,
        options: ListOptions,
        *,
        positive: Sequence[int] = (),
        negative: Sequence[int] = (),
    ) -> Page:
        """rec.for_user_explained re-ranked like every list, each result with its reason."""
        if options.ranker is not None:  # an A/B variant's ranking model
            use_ranker(conn=rows.conn, version=options.ranker)  # type: ignore[arg-type]
        hits = recs.for_user_explained(
            conn=rows.conn,  # type: ignore[arg-type]
            user_id=user_id,
            k=pool_size(options),
            filters=filters,
            positive=positive,
            negative=negative,
        )
        # Read with the list when there is one (the same snapshot), else on its own.
        ranker = hits[0].ranker if hits else recs.ranker_version(conn=rows.conn)  # type: ignore[arg-type]
        plain = [recs.Hit(h.item_id, h.score) for h in hits]
        results = finish(rows, single(mode, plain), options, self.rt.view)
        if not options.rerank.active:
            # The SQL order interleaves the user's interests (not score order): keep it, so
            # the API and an analyst's rec.for_user_explained give the same list.
            place = {h.item_id: n for n, h in enumerate(hits)}
            results.sort(key=lambda r: place[r.id])
        if options.explain:
            add_reasons(rows, results, {h.item_id: h for h in hits})
        return Page(mode, "postgres", len(results), results, ranker=ranker)

    # -- building blocks -------------------------------------------------------------------

    def _view_similar(
        self,
        view: View,
        item_id: int,
        filters: recs.Filters,
        keep: Keep | None,
        options: ListOptions,
        *,
        search: bool,
    ) -> Page | None:
        if view.record(item_id) is None:
            raise NotFoundException(f"item {item_id} not found")
        pool = pool_size(options)
        hits = None
        if keep is None and not filters.exclude_ids:
            hits = view.neighbors(item_id, pool)
        if hits is None:
            if not search:
                return None
            vector = view.vector(item_id)  # an item without a vector has no neighbours yet
            exclude = {item_id, *filters.exclude_ids}
            hits = [] if vector is None else view.search(vector, pool, exclude, keep)
        return self._view_page("similar", view, single("similar", hits), options)

    def _view_page(
        self, mode: str, view: View, candidates: list[Fused], options: ListOptions
    ) -> Page:
        """A page answered from the read model (Postgres only for heavy fields)."""
        heavy = self._heavy if needs_heavy(options) else None
        rows = ViewRows(conn=None, view=view, heavy=heavy)
        results = finish(rows, candidates, options, view)
        page = Page(mode, "faiss", len(results), results, snapshot_version=view.version)
        page.stale = self.rt.stale
        return page

    def _rows(self, conn: Connection, options: ListOptions) -> Rows:
        """Rows for a list Postgres answers: the read model's where it has them."""
        view = self.rt.view
        if view is None:
            return Rows(conn)

        def heavy(ids: list[int]) -> dict[int, dict[str, object]]:
            return rm.heavy_fields(conn=conn, ids=ids)

        return ViewFirstRows(conn=conn, view=view, heavy=heavy if needs_heavy(options) else None)

    def _heavy(self, ids: list[int]) -> dict[int, dict[str, object]]:
        with self.rt.read() as conn:
            return rm.heavy_fields(conn=conn, ids=ids)
