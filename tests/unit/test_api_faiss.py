"""The FAISS snapshot: exact cosine top-k, exclusions, vectors, and the 1-thread setting."""

from __future__ import annotations

import datetime as dt
import threading

import faiss
import numpy as np
import pytest

from api.snapshot import build_snapshot
from db.vectors import VectorSet, VectorSignature, _decode


def _vector_set(n: int = 50, dim: int = 16, seed: int = 0) -> VectorSet:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32) * rng.uniform(0.5, 3, size=(n, 1))
    ids = np.arange(100, 100 + n, dtype=np.int64)
    stamp = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return VectorSet("m", ids, vectors.astype(np.float32), VectorSignature("m", n, stamp, 0))


def test_search_is_exact_cosine_top_k() -> None:
    vs = _vector_set()
    snap = build_snapshot(vs, version=3)
    query = np.random.default_rng(1).normal(size=16).astype(np.float32)
    unit = vs.vectors / np.linalg.norm(vs.vectors, axis=1, keepdims=True)
    cosine = unit @ (query / np.linalg.norm(query))
    expected = [int(vs.ids[i]) for i in np.argsort(-cosine)[:10]]
    hits = snap.search(query * 7, 10)  # the query's norm does not matter
    assert [h.item_id for h in hits] == expected
    assert hits[0].score == pytest.approx(float(cosine.max()), abs=1e-5)
    assert snap.version == 3 and snap.size == 50 and snap.dim == 16


def test_exclusions_and_k_beyond_size() -> None:
    snap = build_snapshot(_vector_set(n=5), version=1)
    query = snap.vector(100)
    assert query is not None
    hits = snap.search(query, 50, exclude={100, 101})
    assert len(hits) == 3 and {h.item_id for h in hits}.isdisjoint({100, 101})
    assert snap.search(query, 0) == []


def test_vectors_are_normalised_copies() -> None:
    snap = build_snapshot(_vector_set(n=3), version=1)
    v = snap.vector(101)
    assert v is not None and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    v[:] = 0  # a copy: the index is untouched
    again = snap.vector(101)
    assert again is not None and np.linalg.norm(again) == pytest.approx(1.0, abs=1e-5)
    assert snap.vector(999) is None and 101 in snap and 999 not in snap


def test_empty_snapshot() -> None:
    vs = VectorSet(
        "m", np.zeros(0, np.int64), np.zeros((0, 8), np.float32), VectorSignature("m", 0, None, 0)
    )
    snap = build_snapshot(vs, version=1)
    assert snap.size == 0 and snap.search(np.ones(8, np.float32), 5) == []


def test_every_searching_thread_runs_faiss_single_threaded() -> None:
    snap = build_snapshot(_vector_set(n=5), version=1)
    seen: list[int] = []

    def search() -> None:  # a fresh thread, as a request's worker thread would be
        faiss.omp_set_num_threads(4)  # whatever another library set before
        seen.append(faiss.omp_get_max_threads())
        snap.search(np.ones(16, np.float32), 3)
        seen.append(faiss.omp_get_max_threads())

    thread = threading.Thread(target=search)
    thread.start()
    thread.join()
    assert seen == [4, 1]


def test_decode_pgvector_binary() -> None:
    values = np.array([[1.5, -2.0, 0.25], [0.0, 3.0, -1.0]], dtype=np.float32)
    blobs = [
        np.array([3, 0], dtype=">u2").tobytes() + row.astype(">f4").tobytes() for row in values
    ]
    assert np.array_equal(_decode(blobs, 3), values)
    assert _decode([], 3).shape == (0, 3)
