"""halfvec vs vector HNSW on one scale catalog: recall@10, latency, index size, build time.

Queries are catalog vectors plus noise; the exact top-10 comes from numpy over the
regenerated vectors (chunk by chunk, never the whole matrix at once). Both indexes are
queried with the same SQL shape and hnsw.ef_search, the plain pgvector way (no filter).
The model's index has PGREC_VECTOR_STORAGE's storage (bench/scale.py); the other storage's
index is built next to it for the comparison and dropped after.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import psycopg

from bench import scale_catalog as syn
from bench.bench_stats import percentile
from bench.scale_catalog import build_hnsw_index
from db.models import DEFAULT_MODEL

QUERIES = 50
K = 10
EF_SEARCH = 100
OTHER_INDEX = "ix_scale_other_hnsw"


def query_vectors(spec: syn.Spec, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 99)
    rows = rng.choice(spec.size, size=QUERIES, replace=False)
    base = np.stack([syn.vectors(spec, int(r), int(r) + 1)[0] for r in rows])
    noisy = base + rng.standard_normal(base.shape, dtype=np.float32) * (0.5 / np.sqrt(spec.dim))
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    return np.asarray(noisy, dtype=np.float32)


def exact_top(spec: syn.Spec, queries: np.ndarray) -> list[set[int]]:
    """Exact cosine top-K item ids per query (ids are row + 1)."""
    best_s = np.full((len(queries), K), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), K), dtype=np.int64)
    for start in range(0, spec.size, syn.CHUNK):
        stop = min(spec.size, start + syn.CHUNK)
        scores = queries @ syn.vectors(spec, start, stop).T
        ids = np.broadcast_to(np.arange(start + 1, stop + 1), scores.shape)
        all_s = np.concatenate([best_s, scores], axis=1)
        all_i = np.concatenate([best_i, ids], axis=1)
        keep = np.argpartition(-all_s, K - 1, axis=1)[:, :K]
        best_s = np.take_along_axis(all_s, keep, axis=1)
        best_i = np.take_along_axis(all_i, keep, axis=1)
    return [set(map(int, row)) for row in best_i]


def _literal(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in v) + "]"


def _run(
    conn: psycopg.Connection[Any], cast: str, queries: np.ndarray
) -> tuple[list[set[int]], list[float]]:
    got, times = [], []
    sql = (
        f"SELECT item_id FROM item_embeddings WHERE model = %s "
        f"ORDER BY embedding::{cast}(384) <=> %s::{cast}(384) LIMIT {K}"
    )
    for q in queries:
        t = time.perf_counter()
        rows = conn.execute(sql, (DEFAULT_MODEL, _literal(q))).fetchall()
        times.append((time.perf_counter() - t) * 1000)
        got.append({int(r[0]) for r in rows})
    return got, times


def _summary(got: list[set[int]], truth: list[set[int]], times: list[float]) -> dict[str, Any]:
    recall = [len(g & t) / K for g, t in zip(got, truth, strict=True)]
    return {
        "recall_at_10": round(float(np.mean(recall)), 4),
        "recall_min": round(float(np.min(recall)), 2),
        "p50_ms": round(percentile(times[5:], 50) or 0.0, 2),
        "p99_ms": round(percentile(times[5:], 99) or 0.0, 2),
    }


def compare_halfvec(url: str, spec: syn.Spec, *, storage: str, seed: int = 0) -> dict[str, Any]:
    """Build the other storage's HNSW index next to the model's (`storage`); measure both."""
    from bench.bench_catalog import HNSW_INDEX

    other = "vector" if storage == "halfvec" else "halfvec"
    queries = query_vectors(spec, seed)
    truth = exact_top(spec, queries)
    with psycopg.connect(url, autocommit=True) as conn:
        other_build = build_hnsw_index(conn, OTHER_INDEX, other, spec.size)
        conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        out: dict[str, Any] = {"queries": QUERIES, "ef_search": EF_SEARCH, "model_index": storage}
        for cast in ("vector", "halfvec"):
            _run(conn, cast, queries[:5])  # warm the index pages
            got, times = _run(conn, cast, queries)
            out[cast] = _summary(got, truth, times)
        for cast, index in ((storage, HNSW_INDEX), (other, OTHER_INDEX)):
            size = conn.execute("SELECT pg_relation_size(%s::regclass)", (index,)).fetchone()
            assert size is not None
            out[cast]["index_bytes"] = int(size[0])
        out[other]["build_s"] = round(other_build, 2)
        conn.execute(f"DROP INDEX {OTHER_INDEX}")
    return out
