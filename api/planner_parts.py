"""The planner's pure parts: pool sizes, which filters the read model applies, rows, shaping."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np
from msgspec import UNSET
from sqlalchemy import Connection

import db.recs as recs
from api import fusion
from api.fusion import Fused, single
from api.params import ATTR_PREFIX, ListOptions, Mode
from api.rerank import Candidate, Ranked, rerank
from api.schemas import Explain, ItemRef, ModeScore, Page, Result
from api.view import AvailableIs, Keep, View
from db.embeddings import active_model
from db.read_model import HEAVY_FIELDS
from db.vectors import item_vectors

MAX_POOL = 400


def pool_size(options: ListOptions) -> int:
    """How many candidates to retrieve: n, or a wider choice when re-ranking."""
    if options.rerank.active:
        return min(MAX_POOL, max(3 * options.n, options.n + 30))
    return options.n


def only_excludes(filters: recs.Filters) -> bool:
    """True when nothing is filtered but `exclude` (applied to the hits)."""
    return replace(filters, exclude_ids=(), categories_mode="any") == recs.Filters()


def view_filter(filters: recs.Filters) -> tuple[bool, Keep | None]:
    """Whether the read model can apply `filters` (exclude, available), and how."""
    if not only_excludes(replace(filters, available=None)):
        return False, None
    if filters.available is None:
        return True, None
    return True, AvailableIs(filters.available)


def on_asyncio(mode: str, filters: recs.Filters) -> bool:
    """Whether `Planner.recommend_fast` answers (api/planner_async.py): terms, title, hybrid,
    and semantic under a filter the read model cannot apply."""
    return mode in ("terms", "title", "hybrid") or (
        mode == "semantic" and not view_filter(filters)[0]
    )


def needs_heavy(options: ListOptions) -> bool:
    """Whether the response or the re-ranking reads columns the read model leaves out."""
    group_by = options.rerank.group_by or ""
    return bool(HEAVY_FIELDS & set(options.fields)) or group_by.startswith(ATTR_PREFIX)


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

    conn: Connection | None
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    looked_up: set[int] = field(default_factory=set)

    def get(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        need = [i for i in dict.fromkeys(ids) if i not in self.looked_up]
        if need:
            self.rows.update(self.fetch(need))
            self.looked_up.update(need)
        return {i: self.rows[i] for i in ids if i in self.rows}

    def fetch(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        assert self.conn is not None
        return recs.fetch_items(conn=self.conn, ids=ids)


@dataclass
class ViewRows(Rows):
    """Rows from the read model; with `heavy`, description and attributes from Postgres too
    (one query per request, and only then does it need the database)."""

    view: View | None = None
    heavy: Callable[[list[int]], dict[int, dict[str, Any]]] | None = None

    def fetch(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        assert self.view is not None
        found = self.view.records(ids)
        if self.heavy is not None and found:
            extra = self.heavy(list(found))
            found = {i: {**row, **extra[i]} for i, row in found.items() if i in extra}
        return found


@dataclass
class ViewFirstRows(ViewRows):
    """Rows of a list Postgres answered (filtered semantic): from the read model where it
    has them, saving a round trip; the rest (changed since it was built) from `conn`.
    Postgres decides which items are listed; the read model only names them."""

    def fetch(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        found = super().fetch(ids)
        rest = [i for i in ids if i not in found]
        if rest and self.conn is not None:
            found |= recs.fetch_items(conn=self.conn, ids=rest)
        return found


def add_reasons(rows: Rows, results: Sequence[Result], hits: Mapping[int, recs.UserHit]) -> None:
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


def make_result(
    row: Mapping[str, Any], fused: Fused, ranked: Ranked, options: ListOptions
) -> Result:
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


def vectors_for(rows: Rows, view: View | None, ids: Sequence[int]) -> dict[int, np.ndarray]:
    """Vectors from the read model, the rest (embedded since) from Postgres."""
    out: dict[int, np.ndarray] = {}
    if view is not None:
        for i in ids:
            vector = view.vector(i)
            if vector is not None:
                out[i] = vector
    rest = [i for i in ids if i not in out]
    if rest and rows.conn is not None:
        model = active_model(rows.conn)
        out |= item_vectors(conn=rows.conn, model=model.name, dim=model.dim, ids=rest)
    return out


def finish(
    rows: Rows,
    candidates: list[Fused],
    options: ListOptions,
    view: View | None,
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
        vectors = vectors_for(rows, view, [c.item_id for c in plain])
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
    return [make_result(found[r.item_id], by_id[r.item_id], r, options) for r in ranked]


def listed_page(
    mode: Mode,
    lists: dict[str, list[recs.Hit]],
    rows: Rows,
    options: ListOptions,
    vector: np.ndarray | None,
    faiss: View | None,
    view: View | None,
) -> Page:
    """One mode's list, or hybrid's lists fused (feedback given the query's `vector`),
    re-ranked and shaped. `faiss`: the read model that answered the semantic list (None:
    Postgres did); `view`: the read model whose vectors the re-ranking reads."""
    if mode == "hybrid":
        if not lists["title"]:  # title joins the fusion only when it matches
            del lists["title"]
        candidates = fusion.hybrid(
            lists,
            dict(options.fusion),
            query=vector,
            vectors=lambda ids: vectors_for(rows, view, ids),
        )
        backend = "faiss+postgres" if faiss is not None else "postgres"
    else:
        candidates, backend = single(mode, lists[mode]), "postgres"
    results = finish(rows, candidates, options, view)
    version = faiss.version if faiss is not None else None
    return Page(mode, backend, len(results), results, snapshot_version=version)
