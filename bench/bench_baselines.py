"""Baselines measured in the bench process, beside the API: what pgrec is compared against.

- FAISS IndexFlatIP in-process, one query at a time, one thread: the floor.
- Plain pgvector SQL with default settings (ef_search 40, no iterative scan) under each
  selectivity filter: its recall@10 against the exact answer, its latency, and whether the
  HNSW index was used at all.
- pgvector exact scan (ORDER BY the uncast distance, which no index serves).
- pgrec's `rec.semantic` through `db.recs.semantic`: recall@10 and latency per selectivity.
- The bare `encode([query])` call (what semantic text mode must stay close to).

Exact answers come from numpy over the catalog's vectors (those written to Postgres).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np
import psycopg
from sqlalchemy import Connection, text

from bench.bench_catalog import BUCKETS, Catalog
from bench.bench_stats import latency_summary, mean, recall_at_k
from db import recs
from db.engine import make_engine
from db.models import DEFAULT_DIM, DEFAULT_MODEL
from db.recs.calls import vector_literal
from db.vector_index import create_sql
from jobs.embedder import Embedder

K = 10
SELECTIVITIES: dict[str, str | None] = {"100%": None} | {
    f"{share * 100:g}%": bucket for bucket, share in BUCKETS.items()
}
_PLAIN = (
    "SELECT e.item_id FROM item_embeddings e JOIN items i ON i.id = e.item_id "
    f"WHERE e.model = '{DEFAULT_MODEL}' AND {{where}} "
    f"ORDER BY e.embedding::vector({DEFAULT_DIM}) <=> %s::vector({DEFAULT_DIM}) LIMIT {K}"
)
_EXACT = (
    "SELECT e.item_id FROM item_embeddings e JOIN items i ON i.id = e.item_id "
    f"WHERE e.model = '{DEFAULT_MODEL}' AND {{where}} ORDER BY e.embedding <=> %s::vector, "
    f"e.item_id LIMIT {K}"
)


def query_vectors(catalog: Catalog, count: int, seed: int) -> np.ndarray:
    """Queries near catalog items: a random item's vector plus noise, normalised."""
    assert catalog.vectors is not None
    rng = np.random.default_rng(seed + 7)
    rows = rng.choice(len(catalog.ids), size=min(count, len(catalog.ids)), replace=False)
    dim = catalog.vectors.shape[1]
    noise = rng.standard_normal((len(rows), dim)).astype(np.float32) * np.float32(0.5 / dim**0.5)
    q = catalog.vectors[rows] + noise
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.asarray(q, dtype=np.float32)


def exact_top_k(catalog: Catalog, q: np.ndarray, bucket: str | None) -> list[int]:
    assert catalog.vectors is not None
    mask = np.ones(len(catalog.ids), bool) if bucket is None else catalog.buckets == bucket
    ids, vecs = catalog.ids[mask], catalog.vectors[mask]
    scores = vecs @ q
    top = np.argsort(-scores, kind="stable")[:K]
    return [int(i) for i in ids[top]]


def _where(bucket: str | None) -> str:
    if bucket is None:
        return "true"
    return f"i.attributes @> '{json.dumps({'bucket': bucket})}'::jsonb"


def _sql_ids(conn: psycopg.Connection[Any], query: str, literal: str) -> tuple[float, list[int]]:
    started = time.perf_counter()
    ids = [int(r[0]) for r in conn.execute(query.encode(), (literal,))]
    return time.perf_counter() - started, ids


def faiss_floor(catalog: Catalog, queries: np.ndarray) -> dict[str, Any]:
    """IndexFlatIP over the catalog, one thread, one query per search call."""
    assert catalog.vectors is not None
    faiss.omp_set_num_threads(1)
    started = time.perf_counter()
    index = faiss.IndexFlatIP(catalog.vectors.shape[1])
    index.add(catalog.vectors)
    build = time.perf_counter() - started
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q.reshape(1, -1), K)
        times.append(time.perf_counter() - t)
    return {"build_s": round(build, 4), **latency_summary(times)}


def plain_pgvector(url: str, catalog: Catalog, queries: np.ndarray) -> dict[str, Any]:
    """Default-settings pgvector SQL and the exact scan, per selectivity."""
    out: dict[str, Any] = {}
    literals = [vector_literal(q) for q in queries]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT '[1]'::vector")  # loads pgvector, which defines its settings
        settings = {}
        for name in ("hnsw.ef_search", "hnsw.iterative_scan"):
            row = conn.execute(f"SHOW {name}".encode()).fetchone()
            settings[name] = str(row[0]) if row else "?"
        for label, bucket in SELECTIVITIES.items():
            plain = _PLAIN.format(where=_where(bucket))
            exact = _EXACT.format(where=_where(bucket))
            explain = ("EXPLAIN " + plain).encode()
            plan = "\n".join(str(r[0]) for r in conn.execute(explain, (literals[0],)))
            hnsw_times: list[float] = []
            exact_times: list[float] = []
            recalls: list[float] = []
            for q, lit in zip(queries, literals, strict=True):
                truth = exact_top_k(catalog, q, bucket)
                seconds, found = _sql_ids(conn, plain, lit)
                hnsw_times.append(seconds)
                recalls.append(recall_at_k(found, truth, K))
                exact_times.append(_sql_ids(conn, exact, lit)[0])
            out[label] = {
                "bucket": bucket,
                "uses_hnsw": "hnsw" in plan,
                "recall_at_10": round(mean(recalls) or 0.0, 4),
                "min_recall_at_10": round(min(recalls), 4),
                "default_sql": latency_summary(hnsw_times),
                "exact_scan": latency_summary(exact_times),
            }
    return {"settings": settings, "by_selectivity": out}


def _semantic_by_selectivity(
    conn: Connection, catalog: Catalog, queries: np.ndarray, *, each_alone: bool = True
) -> dict[str, Any]:
    """recall@10 and latency of `db.recs.semantic` per selectivity on `conn`; `each_alone`
    ends the transaction after each query (otherwise the caller's transaction holds)."""
    out: dict[str, Any] = {}
    for label, bucket in SELECTIVITIES.items():
        f = recs.Filters(attributes={"bucket": bucket} if bucket else {})
        times, recalls = [], []
        for q in queries:
            truth = exact_top_k(catalog, q, bucket)
            started = time.perf_counter()
            hits = recs.semantic(conn=conn, model=DEFAULT_MODEL, vector=q, k=K, filters=f)
            seconds = time.perf_counter() - started
            found = [h.item_id for h in hits]
            if each_alone:
                conn.rollback()
            times.append(seconds)
            recalls.append(recall_at_k(found, truth, K))
        out[label] = {
            "bucket": bucket,
            "recall_at_10": round(mean(recalls) or 0.0, 4),
            "min_recall_at_10": round(min(recalls), 4),
            **latency_summary(times),
        }
    return out


def rec_semantic(url: str, catalog: Catalog, queries: np.ndarray) -> dict[str, Any]:
    """pgrec's planner (`rec.semantic` via `db.recs.semantic`): recall@10 and latency."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            storage = conn.execute(_STORAGE, {"m": DEFAULT_MODEL}).scalar_one()
            return {
                "storage": storage,
                "by_selectivity": _semantic_by_selectivity(conn, catalog, queries),
            }
    finally:
        engine.dispose()


def text_queries(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """`texts` encoded by the model, normalised: queries as people type them."""
    q = np.asarray(embedder.encode(list(texts)), dtype=np.float32)
    return np.asarray(q / np.linalg.norm(q, axis=1, keepdims=True), dtype=np.float32)


def recall_by_query(
    url: str, catalog: Catalog, kinds: dict[str, np.ndarray]
) -> dict[str, dict[str, Any]]:
    """rec.semantic's recall@10 per selectivity for each kind of query: recall depends on the
    query, not only on the filter (docs/serving.md#recall-depends-on-the-query)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                kind: {"queries": len(q), **_semantic_by_selectivity(conn, catalog, q)}
                for kind, q in kinds.items()
            }
    finally:
        engine.dispose()


_STORAGE = text("SELECT storage FROM embedding_models WHERE name = :m")
OTHER_INDEX = "ix_bench_other_storage"


def rec_semantic_other_storage(url: str, catalog: Catalog, queries: np.ndarray) -> dict[str, Any]:
    """`rec_semantic` served by the other storage's HNSW index (halfvec when the model's
    is vector, and back; PGREC_VECTOR_STORAGE): built next to the model's index, chosen by
    setting embedding_models.storage in a transaction that is rolled back, dropped after."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            other = (
                "vector"
                if conn.execute(_STORAGE, {"m": DEFAULT_MODEL}).scalar_one() == "halfvec"
                else "halfvec"
            )
            conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
            started = time.perf_counter()
            # Built as the model's index is (PGREC_HNSW_EF_CONSTRUCTION): only the storage differs.
            conn.exec_driver_sql(
                create_sql(OTHER_INDEX, model=DEFAULT_MODEL, dim=DEFAULT_DIM, storage=other)
            )
            conn.commit()
            build_s = time.perf_counter() - started
            try:
                conn.execute(
                    text("UPDATE embedding_models SET storage = :s WHERE name = :m"),
                    {"s": other, "m": DEFAULT_MODEL},
                )
                found = _semantic_by_selectivity(conn, catalog, queries, each_alone=False)
                conn.rollback()
            finally:
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {OTHER_INDEX}")
                conn.commit()
    finally:
        engine.dispose()
    return {"storage": other, "build_s": round(build_s, 2), "by_selectivity": found}


def bare_encode(embedder: Embedder, texts: Sequence[str], threads: int = 1) -> dict[str, Any]:
    """`embedder.encode([text])`, one distinct text per call: the floor of semantic text mode.

    Run with the API process's thread count: api/readmodel.py sets OpenMP to one thread, which
    torch shares (on a busy 2-core machine two threads made one query ~8x slower, not faster).
    """
    torch = sys.modules.get("torch")  # loaded by a real model; the fake embedder needs none
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        embedder.encode(["warm up the model"])
        times = []
        for text in texts:
            t = time.perf_counter()
            embedder.encode([text])
            times.append(time.perf_counter() - t)
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)
    return {
        "embedder": embedder.name,
        "torch_threads": threads if torch is not None else None,
        **latency_summary(times),
    }


def measure(
    catalog: Catalog, embedder: Embedder, count: int, seed: int, texts: Sequence[str]
) -> dict[str, Any]:
    """Every baseline of the filtered-retrieval section on `count` near-item queries, and
    rec.semantic's recall for typed `texts` and for the catalog's titles."""
    queries = query_vectors(catalog, count, seed)
    kinds = {
        "text": text_queries(embedder, texts),
        "titles": text_queries(embedder, catalog.titles[:count]),
    }
    return {
        "queries": len(queries),
        "faiss": faiss_floor(catalog, queries),
        "pgvector": plain_pgvector(catalog.url, catalog, queries),
        "rec_semantic": rec_semantic(catalog.url, catalog, queries),
        "rec_semantic_other_storage": rec_semantic_other_storage(catalog.url, catalog, queries),
        "recall_by_query": recall_by_query(catalog.url, catalog, kinds),
    }
