"""The read model's vector index: exact FAISS Flat for small catalogs, IVF over fp16 above a size.

An exact scan touches every vector per query (linear in N: ~0.5 ms per 10k 384-d vectors on
one core), so from `IndexOptions.ann_min_items` vectors the read model holds an
`IndexIVFScalarQuantizer` (k-means cells, float16 vectors) instead: half the bytes, and a
query scans `nprobe` cells, a few thousand vectors whatever N is. IVF rather than HNSW
because, measured on the scale bench's clustered vectors (bench/scale_ann.py), it builds in
about half the time for the same recall. Both kinds are one FAISS file mapped with
`IO_FLAG_MMAP_IFC` (cells and vectors stay in the page cache, shared by every worker) and
keep FAISS id i = the i-th vector id. IVF stores its vectors by cell, so an IVF version also
writes `matrix.npy` (float16, row i = id i) for the by-id lookups (`View.vector`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

# Measured by bench/scale_ann.py under load (bench/scale_ann.json, docs/scaling.md): the
# exact scan's p50 passes ~5 ms on one core between 40k and 100k vectors, hence IVF from 50k;
# nprobe=64 of 2*sqrt(N) cells gives recall@10 >= 0.98 against exact at 100k-300k (held-out
# queries of the same clusters). db/settings.py repeats these two defaults
# (PGREC_READMODEL_ANN_MIN_ITEMS, PGREC_READMODEL_ANN_NPROBE).
DEFAULT_ANN_MIN_ITEMS = 50_000
DEFAULT_NPROBE = 64
CELLS_PER_SQRT_N = 2
TRAIN_PER_CELL = 30  # k-means sample: faiss asks for >= 39 per cell to stop warning; enough
TRAIN_ITERATIONS = 10
MATRIX = "matrix.npy"


@dataclass(frozen=True)
class IndexOptions:
    """Which index a read model version gets; defaults are the measured ones."""

    ann_min_items: int = DEFAULT_ANN_MIN_ITEMS
    nprobe: int = DEFAULT_NPROBE
    build_threads: int = 2  # the build runs once per version, off the request path

    def wants_ann(self, count: int) -> bool:
        """0 turns IVF off (always exact)."""
        return self.ann_min_items > 0 and count >= self.ann_min_items


def cells(count: int) -> int:
    return max(1, CELLS_PER_SQRT_N * int(math.sqrt(count)))


def build_index(vectors: np.ndarray, dim: int, options: IndexOptions) -> faiss.Index:
    """An inner-product index over `vectors` (L2-normalised rows), Flat or IVF-fp16 by size."""
    data = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    if not options.wants_ann(len(data)):
        flat = faiss.IndexFlatIP(dim)
        if len(data):
            flat.add(data)
        return flat
    nlist = cells(len(data))
    fp16: Any = faiss.ScalarQuantizer.QT_fp16  # an enum value the stubs type as a class
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dim), dim, nlist, fp16, faiss.METRIC_INNER_PRODUCT
    )
    index.cp.niter = TRAIN_ITERATIONS
    index.cp.min_points_per_centroid = 1
    index.cp.max_points_per_centroid = TRAIN_PER_CELL
    index.nprobe = options.nprobe
    # Training and assignment are the one place more than one core helps; the searching
    # threads set their own count back to one (api.readmodel.single_threaded_faiss).
    faiss.omp_set_num_threads(max(1, options.build_threads))
    try:
        rng = np.random.default_rng(0)
        sample = min(len(data), TRAIN_PER_CELL * nlist)
        index.train(data[np.sort(rng.choice(len(data), sample, replace=False))])
        index.add(data)
    finally:
        faiss.omp_set_num_threads(1)
    return index


def is_ann(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexIVF)


def prepare(index: faiss.Index, nprobe: int | None) -> faiss.Index:
    """A mapped index ready to search: a checked type, IVF's nprobe set (read-only after)."""
    if isinstance(index, faiss.IndexFlatIP):
        return index
    # faiss.read_index already hands out the concrete class (and owns it: a downcast_index
    # proxy would not, and the index would be freed with the first proxy).
    if not isinstance(index, faiss.IndexIVFScalarQuantizer):
        raise ValueError(f"not a read-model index: {type(index).__name__}")
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise ValueError("not an inner-product index")
    if nprobe is not None:
        index.nprobe = int(nprobe)
    return index


def stored_vectors(directory: Path, index: faiss.Index, dim: int) -> np.ndarray:
    """A read-only (rows, dim) view of a version's vectors, row i = FAISS id i: the Flat
    index's mapped storage (float32), or the mapped `matrix.npy` of an IVF one (float16)."""
    n = int(index.ntotal)
    if is_ann(index):
        matrix: np.ndarray = np.load(directory / MATRIX, mmap_mode="r")
        if matrix.shape != (n, dim):
            raise ValueError(f"{directory}: {MATRIX} has shape {matrix.shape}, index {n} x {dim}")
        return matrix
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    exact: Any = index
    flat: np.ndarray = faiss.rev_swig_ptr(exact.get_xb(), n * dim).reshape(n, dim)
    flat.flags.writeable = False
    return flat
