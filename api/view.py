"""What a request reads: a mapped read model plus this worker's small overlay of changes.

The overlay holds the items changed since the read model was built, as read again from
Postgres after a notification: their light row (None once deleted) and their vector. Both
are immutable; applying a change builds a new overlay and a new `View`, swapped by one
reference assignment, so a request reads one consistent view from start to finish.
Searches run on the mapped FAISS index (rows of overlaid items skipped) and on the
overlay's few vectors with numpy, merged by score: exact top-k over the current items.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from api.readmodel import ReadModel, single_threaded_faiss
from api.search_cache import SearchCache
from db.read_model import ChangedRows
from db.recs import Hit

Keep = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class AvailableIs:
    """Keeps the items whose `available` is `wanted`: a filter a cached result can key on."""

    wanted: bool

    def __call__(self, row: Mapping[str, Any]) -> bool:
        return bool(row.get("available")) == self.wanted


@dataclass(frozen=True, eq=False)
class Overlay:
    records: dict[int, dict[str, Any] | None] = field(default_factory=dict)  # None: deleted
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    changes: int = 0  # notifications applied

    def apply(self, ids: Collection[int], rows: ChangedRows) -> Overlay:
        """A new overlay with `ids` as `rows` says they are now (absent from rows: deleted)."""
        records = dict(self.records)
        vectors = dict(self.vectors)
        for item_id in ids:
            records[item_id] = rows.records.get(item_id)
            vector = rows.vectors.get(item_id) if item_id in rows.records else None
            if vector is None:
                vectors.pop(item_id, None)
            else:
                vectors[item_id] = vector
        order = sorted(vectors)
        matrix = np.stack([vectors[i] for i in order]) if order else np.zeros((0, 0), np.float32)
        return Overlay(
            records=records,
            vectors=vectors,
            ids=np.array(order, dtype=np.int64),
            matrix=np.ascontiguousarray(matrix, dtype=np.float32),
            changes=self.changes + 1,
        )

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True, eq=False)
class View:
    """The read model as this worker serves it: base version + overlay."""

    base: ReadModel
    overlay: Overlay = field(default_factory=Overlay)
    # Results of this view's searches (api/search_cache.py): a new view starts empty.
    results: SearchCache = field(default_factory=SearchCache, repr=False)
    # GET /items/facets per limit, with when it was counted (api/controllers/items.py).
    facets: dict[int, tuple[float, Any]] = field(default_factory=dict, repr=False)

    # -- what responses say about it -------------------------------------------------------

    @property
    def version(self) -> int:
        return self.base.meta.version

    @property
    def model(self) -> str:
        return self.base.meta.model

    @property
    def built_at(self) -> float:
        return self.base.meta.built_at

    @property
    def build_seconds(self) -> float:
        return self.base.meta.build_seconds

    @property
    def neighbor_k(self) -> int:
        return self.base.meta.list_k

    @property
    def size(self) -> int:
        """Items with a vector (searchable)."""
        masked = sum(1 for i in self.overlay.records if self.base.vector_row(i) >= 0)
        return len(self.base.vector_ids) - masked + len(self.overlay.vectors)

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.built_at)

    # -- items ----------------------------------------------------------------------------

    def record(self, item_id: int) -> dict[str, Any] | None:
        """The item's light row, or None when it does not exist (or was deleted)."""
        if item_id in self.overlay.records:
            return self.overlay.records[item_id]
        at = self.base.position(item_id)
        return None if at < 0 else self.base.record(at)

    def records(self, ids: Collection[int]) -> dict[int, dict[str, Any]]:
        """Rows of the ids that exist, in the order given."""
        out: dict[int, dict[str, Any]] = {}
        for item_id in ids:
            if item_id not in out:
                row = self.record(item_id)
                if row is not None:
                    out[item_id] = row
        return out

    def vector(self, item_id: int) -> np.ndarray | None:
        """A copy of an item's normalised vector, or None (no vector, or no item)."""
        if item_id in self.overlay.records:
            found = self.overlay.vectors.get(item_id)
            return None if found is None else found.copy()
        row = self.base.vector_row(item_id)
        # float32 whatever the read model stores (float16 in an IVF read model)
        return None if row < 0 else np.array(self.base.matrix[row], dtype=np.float32)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, int) and self.vector(item_id) is not None

    # -- retrieval ------------------------------------------------------------------------

    def neighbors(self, item_id: int, k: int) -> list[Hit] | None:
        """The first `k` of the item's precomputed list, when it is current and complete
        (the rule of rec.similar_items); None when a search must answer."""
        base = self.base
        if k > base.meta.list_k or item_id in self.overlay.records:
            return None
        at = base.position(item_id)
        if at < 0 or not bool(base.list_fresh[at]):
            return None
        ids = [int(i) for i in base.lists[at, :k]]
        if any(i < 0 or self.overlay.records.get(i, True) is None for i in ids):
            return None  # a hole: a neighbour was deleted since
        scores = base.list_scores[at, :k]
        return [Hit(i, float(s)) for i, s in zip(ids, scores, strict=True)]

    def search(
        self, query: np.ndarray, k: int, exclude: Collection[int] = (), keep: Keep | None = None
    ) -> list[Hit]:
        """The `k` nearest current items by cosine, minus `exclude`, among those `keep` takes."""
        if k <= 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1).copy()
        norm = float(np.linalg.norm(q))
        if norm > 0:
            q /= norm
        key = None
        if keep is None or isinstance(keep, AvailableIs):  # other filters: not keyed
            key = (q.tobytes(), k, frozenset(exclude), keep)
            cached = self.results.get(key)
            if cached is not None:
                return cached
        hits = self._search_base(q, k, exclude, keep)
        over = self.overlay
        if len(over.ids):
            scores = over.matrix @ q[0]
            for item_id, score in zip(over.ids.tolist(), scores.tolist(), strict=True):
                row = over.records.get(item_id)
                if row is not None and item_id not in exclude and (keep is None or keep(row)):
                    hits.append(Hit(item_id, float(score)))
            hits.sort(key=lambda h: -h.score)
        hits = hits[:k]
        if key is not None:
            self.results.put(key, hits)
        return hits

    def _search_base(
        self, q: np.ndarray, k: int, exclude: Collection[int], keep: Keep | None
    ) -> list[Hit]:
        base, over = self.base, self.overlay.records
        total = len(base.vector_ids)
        fetch = min(total, k + len(exclude) + 10)
        single_threaded_faiss()
        while fetch > 0:
            scores, rows = base.index.search(q, fetch)
            hits: list[Hit] = []
            for score, row in zip(scores[0].tolist(), rows[0].tolist(), strict=True):
                if row < 0:
                    continue
                item_id = int(base.vector_ids[row])
                if item_id in over or item_id in exclude:
                    continue  # an overlaid item is searched in the overlay (or deleted)
                if keep is not None:
                    at = base.position(item_id)
                    if not keep(base.record(at)):
                        continue
                hits.append(Hit(item_id, score))
            if len(hits) >= k or fetch >= total:
                return hits
            fetch = min(total, fetch * 4)
        return []
