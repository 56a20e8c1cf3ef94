"""The query planner: which backend answers (FAISS snapshot or Postgres), then re-ranking.

- Vector queries whose only filter is `exclude` go to the in-process FAISS snapshot
  (exact); any other filter goes to the `rec.*` SQL functions through `db.recs`, which
  keep full recall under filters. Item-to-item reads the precomputed neighbour lists (via
  `db.recs.similar_items`) while n fits in them, FAISS beyond.
- Lists are over-fetched (a margin for items deleted since the snapshot, more when
  re-ranking needs choice); every candidate's row is fetched from Postgres, and one that
  is no longer there is dropped, so a deleted item never comes back.

Everything here blocks (database, FAISS, embedding): handlers call it from worker threads.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np
from litestar.exceptions import NotFoundException
from msgspec import UNSET
from sqlalchemy import Connection

import db.recs as recs
from api import blend, fusion
from api.errors import BadParameter
from api.fusion import Fused, single
from api.params import ATTR_PREFIX, ListOptions, Mode, check_text
from api.rerank import Candidate, Ranked, rerank
from api.runtime import Runtime, Serving
from api.schemas import Explain, FromItems, ItemRef, ModeScore, Page, Result
from api.snapshot import Snapshot
from db.embeddings import active_model
from db.vectors import item_vectors

DELETED_MARGIN = 10  # candidates fetched beyond n to absorb items deleted since the snapshot
MAX_POOL = 400


def pool_size(options: ListOptions) -> int:
    """How many candidates to retrieve: n, or a wider choice when re-ranking."""
    if options.rerank.active:
        return min(MAX_POOL, max(3 * options.n, options.n + 30))
    return options.n


def only_excludes(filters: recs.Filters) -> bool:
    """True when FAISS can answer: no filter but `exclude` (applied to its hits)."""
    return replace(filters, exclude_ids=(), categories_mode="any") == recs.Filters()


def more_like_vector(
    positive: Sequence[np.ndarray],
    negative: Sequence[np.ndarray],
    positive_weights: Sequence[float],
    negative_weights: Sequence[float],
) -> np.ndarray:
    """avg_pos + (avg_pos - avg_neg) with weighted averages; avg_pos alone without negatives."""
    avg_pos = np.average(np.stack(positive), axis=0, weights=positive_weights)
    if not negative:
        return avg_pos.astype(np.float32)
    avg_neg = np.average(np.stack(negative), axis=0, weights=negative_weights)
    return (2.0 * avg_pos - avg_neg).astype(np.float32)


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list):
        return _hashable(value[0]) if value else None
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return value if isinstance(value, Hashable) else str(value)


def group_value(row: Mapping[str, Any], group_by: str | None) -> Hashable:
    """The value an item is grouped under: a column, its first category, or an attribute."""
    if group_by is None:
        return None
    if group_by == "category":
        return _hashable(row.get("categories") or [])
    if group_by.startswith(ATTR_PREFIX):
        return _hashable((row.get("attributes") or {}).get(group_by[len(ATTR_PREFIX) :]))
    return _hashable(row.get(group_by))


def json_value(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


@dataclass
class Rows:
    """Item rows of one request, each looked up once; an id looked up and absent is gone."""

    conn: Connection
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    looked_up: set[int] = field(default_factory=set)

    def get(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        need = [i for i in dict.fromkeys(ids) if i not in self.looked_up]
        if need:
            self.rows.update(recs.fetch_items(conn=self.conn, ids=need))
            self.looked_up.update(need)
        return {i: self.rows[i] for i in ids if i in self.rows}


class Planner:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    # -- endpoints -------------------------------------------------------------------------

    def recommend(self, *, mode: Mode, q: str, filters: recs.Filters, options: ListOptions) -> Page:
        """Free-text modes: semantic, terms, title, hybrid (RRF of the others)."""
        pool = pool_size(options)
        serving = self.rt.require_serving() if mode in ("semantic", "hybrid") else None
        with self.rt.connect() as conn:
            rows = Rows(conn)
            lists: dict[str, list[recs.Hit]] = {}
            backend = "postgres"
            if mode == "hybrid":  # each list as deep as the fusion was tuned with
                pool = max(pool, fusion.HYBRID_DEPTH)
            if serving is not None:
                lists["semantic"], backend = self._semantic(rows, serving, q, filters, pool)
            if mode == "terms":
                lists["terms"] = recs.search_terms(conn=conn, q=q, k=pool, filters=filters)
            elif mode == "hybrid":
                lists["terms"] = blend.terms_if_any(conn, q, pool, filters)
            if mode in ("title", "hybrid"):
                lists["title"] = recs.search_title(conn=conn, q=q, k=pool, filters=filters)
            if mode == "hybrid":
                if not lists["title"]:  # title joins the fusion only when it matches
                    del lists["title"]
                candidates = fusion.hybrid(lists)
                backend = "faiss+postgres" if backend == "faiss" else "postgres"
            else:
                candidates = single(mode, lists[mode])
            results = self._finish(rows, candidates, options, serving)
        version = serving.snapshot.version if serving and "faiss" in backend else None
        return Page(mode, backend, len(results), results, snapshot_version=version)

    def similar(self, *, item_id: int, filters: recs.Filters, options: ListOptions) -> Page:
        """Items like one item: neighbour lists, FAISS, or pgvector under filters."""
        pool = pool_size(options)
        serving = self.rt.serving
        if serving is None:
            self.rt.request_load()  # Postgres answers meanwhile
        with self.rt.connect() as conn:
            rows = Rows(conn)
            if not rows.get([item_id]):
                raise NotFoundException(f"item {item_id} not found")
            snap = serving.snapshot if serving else None
            vector = snap.vector(item_id) if snap is not None else None
            use_faiss = (
                snap is not None
                and vector is not None
                and only_excludes(filters)
                and pool > snap.neighbor_k
            )
            if use_faiss and snap is not None and vector is not None:
                exclude = {*filters.exclude_ids, item_id}
                hits = self._faiss(rows, snap, vector, pool, exclude)
            else:
                try:
                    hits = recs.similar_items(conn=conn, item_id=item_id, k=pool, filters=filters)
                except LookupError as err:
                    raise NotFoundException(f"item {item_id} not found") from err
            results = self._finish(rows, single("similar", hits), options, serving)
        backend = "faiss" if use_faiss else "postgres"
        version = snap.version if use_faiss and snap is not None else None
        return Page("similar", backend, len(results), results, snapshot_version=version)

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
            with self.rt.connect() as conn:
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
        serving = self.rt.serving
        if serving is None:
            self.rt.request_load()
        with self.rt.connect() as conn:
            rows = Rows(conn)
            if serving is not None and only_excludes(filters):
                backend = "faiss"
                known = self._vectors(rows, serving, [*positive, *negative])
                alive = rows.get(list(known))
                known = {i: v for i, v in known.items() if i in alive}
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
                    exclude = {*filters.exclude_ids, *positive, *negative}
                    hits = self._faiss(rows, serving.snapshot, query, pool, exclude)
            else:
                backend = "postgres"
                found = recs.more_like(
                    conn=conn,
                    positive=positive,
                    negative=negative,
                    weights=weights or None,
                    k=pool,
                    filters=filters,
                )
                hits, missing = found.hits, list(found.missing_ids)
            candidates = blend.more_like(conn, hits, positive, negative, filters, pool)
            results = self._finish(rows, candidates, options, serving)
        version = serving.snapshot.version if serving and backend == "faiss" else None
        page = Page("more_like", backend, len(results), results, snapshot_version=version)
        page.missing_ids = missing
        return page

    def for_user(self, *, user_id: str, filters: recs.Filters, options: ListOptions) -> Page:
        """The hybrid user mode; seen items are left out, an unknown user gets popular items."""
        with self.rt.connect() as conn:
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
        hits = recs.for_user_explained(
            conn=rows.conn,
            user_id=user_id,
            k=pool_size(options),
            filters=filters,
            positive=positive,
            negative=negative,
        )
        # Read with the list when there is one (the same snapshot), else on its own.
        ranker = hits[0].ranker if hits else recs.ranker_version(conn=rows.conn)
        plain = [recs.Hit(h.item_id, h.score) for h in hits]
        results = self._finish(rows, single(mode, plain), options, self.rt.serving)
        if not options.rerank.active:
            # The SQL order interleaves the user's interests (not score order): keep it, so
            # the API and an analyst's rec.for_user_explained give the same list.
            place = {h.item_id: n for n, h in enumerate(hits)}
            results.sort(key=lambda r: place[r.id])
        if options.explain:
            _add_reasons(rows, results, {h.item_id: h for h in hits})
        return Page(mode, "postgres", len(results), results, ranker=ranker)

    # -- building blocks -------------------------------------------------------------------

    def _semantic(
        self, rows: Rows, serving: Serving, text: str, filters: recs.Filters, k: int
    ) -> tuple[list[recs.Hit], str]:
        vector = serving.encoder.encode_query(text)
        if only_excludes(filters):
            return self._faiss(rows, serving.snapshot, vector, k, set(filters.exclude_ids)), "faiss"
        hits = recs.semantic(
            conn=rows.conn, model=serving.model.name, vector=vector, k=k, filters=filters
        )
        return hits, "postgres"

    def _faiss(
        self, rows: Rows, snap: Snapshot, vector: np.ndarray, k: int, exclude: set[int]
    ) -> list[recs.Hit]:
        """Top-k from the snapshot among items that still exist (widening when some are gone)."""
        fetch = min(snap.size, k + len(exclude) + DELETED_MARGIN)
        while True:
            hits = snap.search(vector, fetch, exclude)
            alive = rows.get([h.item_id for h in hits])
            kept = [h for h in hits if h.item_id in alive]
            if len(kept) >= k or fetch >= snap.size:
                return kept[:k]
            fetch = min(snap.size, fetch * 2)

    def _vectors(
        self, rows: Rows, serving: Serving | None, ids: Sequence[int]
    ) -> dict[int, np.ndarray]:
        """Vectors from the snapshot, the rest (embedded since) from Postgres."""
        out: dict[int, np.ndarray] = {}
        if serving is not None:
            for i in ids:
                vector = serving.snapshot.vector(i)
                if vector is not None:
                    out[i] = vector
        rest = [i for i in ids if i not in out]
        if rest:
            model = serving.model if serving else active_model(rows.conn)
            out |= item_vectors(conn=rows.conn, model=model.name, dim=model.dim, ids=rest)
        return out

    def _finish(
        self,
        rows: Rows,
        candidates: list[Fused],
        options: ListOptions,
        serving: Serving | None,
    ) -> list[Result]:
        """Drop vanished items, re-rank, and shape the response rows."""
        found = rows.get([c.item_id for c in candidates])
        candidates = [c for c in candidates if c.item_id in found]
        group_by = options.rerank.group_by
        plain = [
            Candidate(
                item_id=c.item_id,
                relevance=c.score,
                year=found[c.item_id].get("year"),
                popularity=float(found[c.item_id].get("popularity") or 0.0),
                group=group_value(found[c.item_id], group_by),
            )
            for c in candidates
        ]
        matrix = None
        if options.rerank.diversity > 0 and plain:
            vectors = self._vectors(rows, serving, [c.item_id for c in plain])
            dim = next((len(v) for v in vectors.values()), 1)
            zero = np.zeros(dim, dtype=np.float32)
            matrix = np.stack([vectors.get(c.item_id, zero) for c in plain])
        ranked = rerank(
            plain,
            n=options.n,
            options=options.rerank,
            now_year=dt.date.today().year,
            vectors=matrix,
        )
        by_id = {c.item_id: c for c in candidates}
        return [_result(found[r.item_id], by_id[r.item_id], r, options) for r in ranked]


def _add_reasons(rows: Rows, results: Sequence[Result], hits: Mapping[int, recs.UserHit]) -> None:
    """The user mode's source, reason and the items it names (id and title) in `explain`."""
    named = rows.get([i for r in results for i in hits[r.id].because])
    for result in results:
        hit = hits[result.id]
        if isinstance(result.explain, Explain):
            result.explain.source = hit.source
            result.explain.reason = hit.reason
            result.explain.because = [
                ItemRef(i, named[i]["title"]) for i in hit.because if i in named
            ]


def _result(row: Mapping[str, Any], fused: Fused, ranked: Ranked, options: ListOptions) -> Result:
    result = Result(
        id=fused.item_id,
        external_id=row["external_id"],
        title=row["title"],
        score=fused.score,
        **{name: json_value(row.get(name)) for name in options.fields},
    )
    result.explain = (
        Explain(
            modes={m: ModeScore(r.rank, r.score) for m, r in fused.modes.items()},
            relevance=ranked.relevance,
            freshness=ranked.freshness,
            popularity=ranked.popularity,
            redundancy=ranked.redundancy,
            final=ranked.final,
        )
        if options.explain
        else UNSET
    )
    return result
