"""IVFFlat against rec.semantic on a kept bench catalog: recall@10 and backend CPU per filter.

    python -m bench.ivfflat_probe DATABASE_URL [--lists 200] [--probes 20,40,60,90]

Builds (once) an `ivfflat` index on `embedding::halfvec(dim)` of the default model's rows
with `--lists` lists, then for the filters of bench/filtered_probe.py (and 10% and 1% with
kind movie) runs each query through rec.semantic and through an IVFFlat iterative scan
(`ivfflat.iterative_scan = relaxed_order`, `--candidates` rows re-ranked by the stored
vectors), comparing each with the exact top-10. Tried in session 11 and not kept
(docs/serving.md, "The 10% filters: three more plans tried"). Drop the index afterwards:
`DROP INDEX ix_ivfflat_probe_<lists>`.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

import numpy as np
import psycopg

from bench.bench_stats import recall_at_k
from bench.filtered_probe import _EXACT, _SEMANTIC, K, _cpu_ms, cases, query_vectors
from db.models import DEFAULT_MODEL
from db.recs.calls import vector_literal


def _index(conn: psycopg.Connection[Any], lists: int, dim: int) -> None:
    name = f"ix_ivfflat_probe_{lists}"
    if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone() == (None,):
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(
            f"CREATE INDEX {name} ON item_embeddings USING ivfflat "
            f"((embedding::halfvec({dim})) halfvec_cosine_ops) WITH (lists = {lists}) "
            f"WHERE model = '{DEFAULT_MODEL}'"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--lists", type=int, default=200)
    p.add_argument("--probes", default="20,40,60,90")
    p.add_argument("--queries", type=int, default=30)
    p.add_argument("--candidates", type=int, default=25)
    args = p.parse_args()
    probes = [int(x) for x in args.probes.split(",")]
    with psycopg.connect(args.url, autocommit=True) as conn:
        row = conn.execute("SELECT dim FROM embedding_models WHERE name = %s", (DEFAULT_MODEL,))
        dim = int(row.fetchone()[0])  # type: ignore[index]
        _index(conn, args.lists, dim)
        filters = cases() | {
            "10% + kind movie": {"attributes": {"bucket": "b10"}, "kinds": ["movie"]},
            "1% + kind movie": {"attributes": {"bucket": "b1"}, "kinds": ["movie"]},
        }
        queries = query_vectors(conn, args.queries, 0, 0.5)
        pid = conn.info.backend_pid
        print("| filter | matching | variant | recall@10 | min | CPU p50 ms | CPU p90 ms |")
        print("|---|---|---|---|---|---|---|")
        for name, f in filters.items():
            fj = json.dumps(f)
            where = conn.execute("SELECT rec.filter_sql(%s::jsonb)", (fj,)).fetchone()[0]  # type: ignore[index]
            ids = [int(r[0]) for r in conn.execute(f"SELECT i.id FROM items i WHERE {where}")]
            ivf = (
                "SELECT item_id FROM (SELECT e.item_id, e.embedding <=> %(q)s::vector AS d "
                "FROM item_embeddings e JOIN items i ON i.id = e.item_id "
                f"WHERE e.model = %(m)s AND {where} "
                f"ORDER BY e.embedding::halfvec({dim}) <=> %(q)s::halfvec({dim}) LIMIT %(c)s) s "
                f"ORDER BY d, item_id LIMIT {K}"
            )
            runs: dict[str, list[tuple[float, float]]] = {}
            for q in queries:
                lit = vector_literal(q)
                truth = [int(r[0]) for r in conn.execute(_EXACT, (DEFAULT_MODEL, ids, lit, K))]
                for variant in ["rec.semantic", *(f"ivfflat probes {n}" for n in probes)]:
                    with conn.transaction():
                        if variant != "rec.semantic":
                            conn.execute(f"SET LOCAL ivfflat.probes = {variant.split()[-1]}")
                            conn.execute("SET LOCAL ivfflat.iterative_scan = relaxed_order")
                        c0 = _cpu_ms(pid)
                        if variant == "rec.semantic":
                            got = conn.execute(_SEMANTIC, (lit, K, fj, DEFAULT_MODEL))
                        else:
                            got = conn.execute(
                                ivf, {"q": lit, "m": DEFAULT_MODEL, "c": args.candidates}
                            )
                        found = [int(r[0]) for r in got]
                        cpu = _cpu_ms(pid) - c0
                    runs.setdefault(variant, []).append((recall_at_k(found, truth, K), cpu))
            for variant, got_runs in runs.items():
                recall = [r for r, _ in got_runs]
                cpu_ms = [c for _, c in got_runs]
                print(
                    f"| {name} | {len(ids):,} | {variant} | {statistics.mean(recall):.3f} | "
                    f"{min(recall):.2f} | {statistics.median(cpu_ms):.2f} | "
                    f"{float(np.percentile(cpu_ms, 90)):.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
