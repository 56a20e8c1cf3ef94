"""The read model's vector index: exact FAISS Flat for small catalogs, HNSW over fp16 above a size.

An exact scan touches every vector per query (linear in N: ~0.5 ms per 10k 384-d vectors on
one core), so past `IndexOptions.ann_min_items` the read model holds an `IndexHNSWSQ`
(HNSW graph over float16 vectors) instead: half the bytes, and a query visits a few thousand
vectors whatever N is. Both kinds are written as one FAISS file and mapped with
`IO_FLAG_MMAP_IFC` (graph and vectors stay in the page cache, shared by every worker), and
both keep FAISS row i = the i-th vector id, so `stored_vectors` gives a row-addressable view
of the vectors either way (float32 or float16).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

# Measured by bench/scale_ann.py under load (bench/scale_ann.json, docs/scaling.md): the exact
# scan's p50 passes ~5 ms on one core between 40k and 100k vectors, so HNSW from 50k; with
# M=32, efConstruction=80, efSearch=128 gives recall@10 0.989 against exact at 100k
# (held-out queries of the same clusters) for a p50 of 0.23 ms. db/settings.py repeats
# these two defaults (PGREC_READMODEL_ANN_MIN_ITEMS, PGREC_READMODEL_ANN_EF_SEARCH).
DEFAULT_ANN_MIN_ITEMS = 50_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
DEFAULT_EF_SEARCH = 128


@dataclass(frozen=True)
class IndexOptions:
    """Which index a read model version gets; defaults are the measured ones."""

    ann_min_items: int = DEFAULT_ANN_MIN_ITEMS
    ef_search: int = DEFAULT_EF_SEARCH
    m: int = HNSW_M
    ef_construction: int = HNSW_EF_CONSTRUCTION
    build_threads: int = 2  # the build runs once per version, off the request path

    def wants_ann(self, count: int) -> bool:
        """0 turns HNSW off (always exact)."""
        return self.ann_min_items > 0 and count >= self.ann_min_items


def build_index(vectors: np.ndarray, dim: int, options: IndexOptions) -> faiss.Index:
    """An inner-product index over `vectors` (L2-normalised rows), Flat or HNSW-fp16 by size."""
    data = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    if not options.wants_ann(len(data)):
        flat = faiss.IndexFlatIP(dim)
        if len(data):
            flat.add(data)
        return flat
    fp16: Any = faiss.ScalarQuantizer.QT_fp16  # an enum value the stubs type as a class
    index = faiss.IndexHNSWSQ(dim, fp16, options.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = options.ef_construction
    index.hnsw.efSearch = options.ef_search
    index.train(data[: min(len(data), 10_000)])  # fp16 needs no statistics: a formality
    # The graph build is the one place more than one core helps; the searching threads set
    # their own count back to one (api.readmodel.single_threaded_faiss).
    faiss.omp_set_num_threads(max(1, options.build_threads))
    try:
        index.add(data)
    finally:
        faiss.omp_set_num_threads(1)
    return index


def is_ann(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexHNSW)


def prepare(index: faiss.Index, ef_search: int | None) -> faiss.Index:
    """A mapped index ready to search: a checked type, HNSW's efSearch set (read-only after)."""
    if isinstance(index, faiss.IndexFlatIP):
        return index
    index = faiss.downcast_index(index)
    if not isinstance(index, faiss.IndexHNSWSQ) or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise ValueError(f"not a read-model index: {type(index).__name__}")
    if ef_search is not None:
        index.hnsw.efSearch = int(ef_search)
    return index


def stored_vectors(index: faiss.Index, dim: int) -> np.ndarray:
    """The index's vectors as a read-only (rows, dim) view of its (mapped) storage:
    float32 for Flat, float16 for HNSW-fp16. Row i is FAISS id i."""
    n = int(index.ntotal)
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if isinstance(index, faiss.IndexFlatIP):
        matrix = faiss.rev_swig_ptr(index.get_xb(), n * dim).reshape(n, dim)
    else:
        hnsw: Any = index
        storage: Any = faiss.downcast_index(hnsw.storage)
        raw = faiss.rev_swig_ptr(storage.codes.data(), n * dim * 2)
        matrix = raw.view(np.float16).reshape(n, dim)
    matrix.flags.writeable = False
    return matrix
