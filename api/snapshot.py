"""The in-process FAISS snapshot of the active model's vectors: exact top-k for unfiltered queries.

A `Snapshot` is immutable once built. The refresher builds a new one off the event loop and
swaps a single reference, so a request holds whichever snapshot it started with until it
finishes: nothing is locked, nothing is mutated under a reader. Vectors are L2-normalised at
build time, so inner product is cosine (what pgvector's cosine HNSW index ranks by).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field

import faiss
import numpy as np

from db.recs import Hit
from db.vectors import VectorSet, VectorSignature


# One OpenMP thread per search: requests already run on many threads, and FAISS' default
# pool oversubscribes the cores (measured: 166 req/s with 1 thread, 41 with the default).
# OpenMP keeps this setting per calling thread (a thread that never set it uses the global
# default), so it is set by the thread that searches or builds, every time (a few ns; some
# other library may have changed it in that thread since).
def single_threaded_faiss() -> None:
    """Limit FAISS to one OpenMP thread in the calling thread."""
    faiss.omp_set_num_threads(1)


single_threaded_faiss()


@dataclass(frozen=True, eq=False)
class Snapshot:
    version: int
    model: str
    dim: int
    index: faiss.IndexFlatIP
    ids: np.ndarray  # row -> item id
    signature: VectorSignature
    built_at: float  # unix time
    build_seconds: float
    neighbor_k: int  # length of the precomputed neighbour lists when the snapshot was built
    _rows: dict[int, int] = field(repr=False)
    _matrix: np.ndarray = field(repr=False)  # a view of the index's own storage

    @property
    def size(self) -> int:
        return len(self.ids)

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.built_at)

    def vector(self, item_id: int) -> np.ndarray | None:
        """A copy of an item's normalised vector, or None when it is not in the snapshot.

        A copy, because `_matrix` points into the index's memory, which goes away with the
        snapshot while the caller may keep the vector.
        """
        row = self._rows.get(item_id)
        return None if row is None else self._matrix[row].copy()

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._rows

    def search(self, query: np.ndarray, k: int, exclude: Collection[int] = ()) -> list[Hit]:
        """The `k` nearest items by cosine, minus `exclude` (so fewer when they were hit)."""
        k = min(k, self.size)
        if k <= 0:
            return []
        single_threaded_faiss()
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1).copy()
        faiss.normalize_L2(q)
        scores, rows = self.index.search(q, k)
        hits: list[Hit] = []
        for score, row in zip(scores[0], rows[0], strict=True):
            if row < 0:
                continue
            item_id = int(self.ids[row])
            if item_id not in exclude:
                hits.append(Hit(item_id=item_id, score=float(score)))
        return hits


def build_snapshot(vectors: VectorSet, *, version: int, neighbor_k: int = 0) -> Snapshot:
    """An exact IndexFlatIP over the given vectors (normalised copies)."""
    started = time.perf_counter()
    single_threaded_faiss()
    matrix = np.ascontiguousarray(vectors.vectors, dtype=np.float32).copy()
    n, dim = matrix.shape
    if n:
        faiss.normalize_L2(matrix)
    index = faiss.IndexFlatIP(dim)
    index.add(matrix)
    # Read vectors back from FAISS' storage instead of keeping a second copy of the matrix.
    stored = (
        faiss.rev_swig_ptr(index.get_xb(), n * dim).reshape(n, dim)
        if n
        else np.zeros((0, dim), dtype=np.float32)
    )
    stored.flags.writeable = False
    ids = vectors.ids.astype(np.int64, copy=True)
    ids.flags.writeable = False
    return Snapshot(
        version=version,
        model=vectors.model,
        dim=dim,
        index=index,
        ids=ids,
        signature=vectors.signature,
        built_at=time.time(),
        build_seconds=time.perf_counter() - started,
        neighbor_k=neighbor_k,
        _rows={int(i): r for r, i in enumerate(ids)},
        _matrix=stored,
    )
