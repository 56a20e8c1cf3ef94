"""Filtered retrieval on a kept bench catalog: rec.semantic's plan, recall@10 and cost per filter.

Run after `pgrec bench --keep-databases` (or any build of pgrec_bench_<size>):

    python -m bench.filtered_probe DATABASE_URL [--queries 40]

For every selectivity bucket (`attr.bucket`, single filter) and two combined filters
(bucket + kind, bucket + year), it compares rec.semantic's top-10 with the exact top-10
over the same rows (computed by the exact scan, the uncast distance no index serves) and
reports the plan rec.vector_plan chose, recall@10 and its minimum, wall p50/p90 and the
Postgres backend's CPU time per query (from /proc/<pid>/schedstat, Linux only): on a
shared machine wall time measures the queue for a core, CPU time what the query costs.

`--kind` picks the queries, since recall depends on them (docs/serving.md#recall-depends-on-
the-query): `near` (default; a stored item vector plus noise of norm 0.5, as the bench's
filtered recall), `far` (noise of norm 1.0), `text` (the judged queries' texts of
bench/judged_queries.json, encoded by the model) or `titles` (sampled catalog titles,
encoded). `--set ef_search_min=72` (repeatable) runs with a pgrec.* setting.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from bench.bench_catalog import BUCKETS
from bench.bench_stats import recall_at_k
from bench.eval_queries import load_queries
from db.models import DEFAULT_MODEL
from db.recs.calls import vector_literal

K = 10
_SEMANTIC = "SELECT item_id FROM rec.semantic(%s::vector, %s, %s::jsonb, %s)"
_PLAN = "SELECT path, matching, ef_search FROM rec.vector_plan(%s, %s::jsonb, %s)"
_EXACT = (
    "SELECT e.item_id FROM items i JOIN item_embeddings e ON e.item_id = i.id AND e.model = %s "
    "WHERE i.id = ANY(%s) ORDER BY e.embedding <=> %s::vector, e.item_id LIMIT %s"
)


def cases() -> dict[str, dict[str, Any]]:
    """Filter name -> rec.* filters JSON: none, every bucket alone, and two combined filters."""
    out: dict[str, dict[str, Any]] = {"unfiltered": {}}
    for bucket, share in BUCKETS.items():
        out[f"{share * 100:g}%"] = {"attributes": {"bucket": bucket}}
    out["50% + kind movie"] = {"attributes": {"bucket": "b50"}, "kinds": ["movie"]}
    out["10% + year >= 2010"] = {"attributes": {"bucket": "b10"}, "year_min": 2010}
    return out


def _unit(q: np.ndarray) -> np.ndarray:
    return np.asarray(q / np.linalg.norm(q, axis=1, keepdims=True), dtype=np.float32)


def encoded_queries(conn: psycopg.Connection[Any], kind: str, count: int, seed: int) -> np.ndarray:
    """The judged queries' texts (`text`) or a seeded sample of titles (`titles`), encoded by
    the configured model (PGREC_MODEL_PATH, default all-MiniLM-L6-v2): the one the bench
    embeds with unless it ran with --fake-embedder."""
    from jobs.engines import load_engine

    if kind == "text":
        texts = [q.text for q in load_queries()][:count]
    else:
        texts = [
            str(r[0])
            for r in conn.execute(
                "SELECT title FROM items ORDER BY hashint8(id # %s::bigint), id LIMIT %s",
                (seed, count),
            )
        ]
    engine = load_engine(purpose="query")
    return _unit(np.asarray(engine.encode(texts), dtype=np.float32))


def query_vectors(
    conn: psycopg.Connection[Any], count: int, seed: int, noise_norm: float = 0.5
) -> np.ndarray:
    """Stored vectors of random items plus noise, normalised (as bench_baselines does).

    Only the picked vectors are read (a 1M catalog's would be gigabytes of text)."""
    ids = [
        int(r[0])
        for r in conn.execute(
            "SELECT item_id FROM item_embeddings WHERE model = %s ORDER BY item_id",
            (DEFAULT_MODEL,),
        )
    ]
    rng = np.random.default_rng(seed + 7)
    picked = [ids[int(i)] for i in rng.choice(len(ids), size=min(count, len(ids)), replace=False)]
    rows = conn.execute(
        "SELECT embedding::text FROM item_embeddings WHERE model = %s AND item_id = ANY(%s) "
        "ORDER BY array_position(%s, item_id)",
        (DEFAULT_MODEL, picked, picked),
    ).fetchall()
    base = np.array([json.loads(r[0]) for r in rows], dtype=np.float32)
    noise = rng.standard_normal(base.shape).astype(np.float32) * np.float32(
        noise_norm / base.shape[1] ** 0.5
    )
    return _unit(base + noise)


def _cpu_ms(pid: int) -> float:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6


def probe(
    conn: psycopg.Connection[Any], name: str, filters: dict[str, Any], queries: np.ndarray
) -> str:
    """One markdown row: the plan, recall@10 against the exact scan, wall and CPU ms."""
    f = json.dumps(filters)
    plan = conn.execute(_PLAN, (K, f, DEFAULT_MODEL)).fetchone()
    assert plan is not None
    recalls, wall, cpu = [], [], []
    pid = conn.info.backend_pid
    where = conn.execute("SELECT rec.filter_sql(%s::jsonb)", (f,)).fetchone()
    assert where is not None
    matching_ids = [int(r[0]) for r in conn.execute(f"SELECT i.id FROM items i WHERE {where[0]}")]
    for q in queries:
        literal = vector_literal(q)
        c0, t0 = _cpu_ms(pid), time.perf_counter()
        found = [int(r[0]) for r in conn.execute(_SEMANTIC, (literal, K, f, DEFAULT_MODEL))]
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append(_cpu_ms(pid) - c0)
        truth = [int(r[0]) for r in conn.execute(_EXACT, (DEFAULT_MODEL, matching_ids, literal, K))]
        recalls.append(recall_at_k(found, truth, K))
    return (
        f"| {name} | {len(matching_ids):,} | {plan[0]} | {plan[2] or '-'} | "
        f"{statistics.mean(recalls):.3f} | {min(recalls):.2f} | {statistics.median(wall):.2f} | "
        f"{float(np.percentile(wall, 90)):.2f} | {statistics.median(cpu):.2f} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", help="the bench catalog's database URL")
    p.add_argument("--queries", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kind", choices=("near", "far", "text", "titles"), default="near")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a pgrec.* setting for the session, e.g. ef_search_min=72",
    )
    args = p.parse_args()
    with psycopg.connect(args.url, autocommit=True) as conn:
        for setting in args.set:
            name, eq, value = setting.partition("=")
            if not eq or not name:
                p.error(f"--set takes NAME=VALUE, not {setting!r}")
            conn.execute("SELECT set_config(%s, %s, false)", ("pgrec." + name, value))
        if args.kind in ("near", "far"):
            noise = 0.5 if args.kind == "near" else 1.0
            queries = query_vectors(conn, args.queries, args.seed, noise)
        else:
            queries = encoded_queries(conn, args.kind, args.queries, args.seed)
        print("| filter | matching | plan | ef | recall@10 | min | p50 ms | p90 ms | CPU p50 ms |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, filters in cases().items():
            print(probe(conn, name, filters, queries), flush=True)


if __name__ == "__main__":
    main()
