"""The title mode before and after migration 0013 of the former chain, side by side in one run.

`python -m bench.bench_title [--size 40000] [--reuse] [--http]` builds (or, with --reuse,
reads) the benchmark catalog pgrec_bench_<size> (bench/bench_catalog.py; vectors from the
FakeEmbedder: the title mode never reads them), takes the title queries `pgrec bench` sends
(catalog titles with one letter dropped, bench/bench_scenarios.py, seeds 0-4) and times
rec.search_title against 0006's single pass (created in pg_temp from its frozen file, read
from git history: 0001-0014 were squashed into the baseline 0016), alternating query by
query. --http also serves the catalog (the app with the FakeEmbedder) and plays the bench's
title scenario at c=1 and c=8 twice per definition, alternating, with rec.search_title
swapped between the two definitions (the current one restored).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import psycopg

from bench import bench_catalog as catalog
from bench import bench_scenarios as sc
from bench.bench_server import ApiServer
from bench.bench_stats import latency_summary
from db import frozen_sql
from db.engine import database_url
from db.settings import get_settings
from jobs.embedder import FakeEmbedder

# 0006's rec.search_title, in the last commit that held the former chain's frozen files.
FORMER = "cc42fd6:migrations/versions/sql/0006/rec.search_title.sql"
SEEDS = range(5)
HTTP = sc.Profile(c1_requests=200, c1_seconds=20.0, cn_requests=400, cn_seconds=20.0)


def definition(rev: str) -> str:
    """rec.search_title as 0006 defined it (from git history), or as it is now ("0013")."""
    if rev == "0013":
        return frozen_sql.current()["rec.search_title"]
    shown = subprocess.run(
        ["git", "-C", str(frozen_sql.ROOT), "show", FORMER], capture_output=True, text=True
    )
    if shown.returncode != 0:
        raise SystemExit(f"bench_title needs a git checkout with {FORMER}: {shown.stderr}")
    return shown.stdout


def queries(size: int, titles: list[str]) -> list[str]:
    """The q of every title request the bench sends, for seeds 0-4 (40 each)."""
    out = []
    for seed in SEEDS:
        reqs, _ = sc.requests_for(
            "title", ids=np.arange(size), titles=titles, uncached=[], users=[], seed=seed, count=410
        )
        out += [parse_qs(urlsplit(r["url"]).query)["q"][0] for r in reqs]
    return out


def load_catalog(size: int, reuse: bool) -> tuple[str, list[str]]:
    """The catalog's URL and its sample of titles (every size/200-th row, as build keeps)."""
    server = database_url()
    if not reuse:
        cat = catalog.build(
            server_url=server, size=size, embedder=FakeEmbedder(), keep_vectors=False
        )
        return cat.url, cat.titles
    url = catalog._database_url(server, f"pgrec_bench_{size}")
    with psycopg.connect(url) as c:
        rows = c.execute("SELECT title FROM items ORDER BY id").fetchall()
    return url, [str(r[0]) for r in rows[:: max(1, size // 200)]]


def time_sql(url: str, qs: list[str], k: int = 10) -> dict[str, Any]:
    """Both definitions per query, alternating; latency, results and top-hit agreement."""
    calls = {"0006": "pg_temp.search_title_0006", "0013": "rec.search_title"}
    seconds: dict[str, list[float]] = {rev: [] for rev in calls}
    sizes: dict[str, list[int]] = {rev: [] for rev in calls}
    same_top = 0
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(definition("0006").replace("rec.search_title(", f"{calls['0006']}("))
        for q in qs[:20]:  # warm the caches and the plpgsql functions
            for fn in calls.values():
                c.execute(f"SELECT * FROM {fn}(%s, %s)", (q, k)).fetchall()
        for q in qs:
            tops = []
            for rev, fn in calls.items():
                started = time.perf_counter()
                rows = c.execute(f"SELECT item_id FROM {fn}(%s, %s)", (q, k)).fetchall()
                seconds[rev].append(time.perf_counter() - started)
                sizes[rev].append(len(rows))
                tops.append(rows[0][0] if rows else None)
            same_top += tops[0] == tops[1]
    return {
        "queries": len(qs),
        "same_top_hit": same_top,
        **{
            rev: {**latency_summary(seconds[rev]), "mean_results": float(np.mean(sizes[rev]))}
            for rev in calls
        },
    }


def time_http(url: str, titles: list[str], size: int, rounds: int = 2) -> dict[str, Any]:
    """The bench's title scenario over HTTP, rec.search_title swapped between definitions."""
    plays = sc.scenarios(
        ("title",), HTTP, ids=np.arange(size), titles=titles, uncached=[], users=[], seed=0
    )
    log = (get_settings().data_dir / "bench-cache" / "logs" / "serve-title.log").resolve()
    out: dict[str, list[dict[str, Any]]] = {"0006": [], "0013": []}
    with ApiServer(database_url=url, fake=True, log_path=log) as server:
        try:
            for _ in range(rounds):
                for rev in out:
                    with psycopg.connect(url, autocommit=True) as c:
                        c.execute(definition(rev))
                    out[rev] += sc.play(server.base_url, plays, timeout=600)
        finally:
            with psycopg.connect(url, autocommit=True) as c:
                c.execute(definition("0013"))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_title", description=__doc__)
    p.add_argument("--size", type=int, default=40_000)
    p.add_argument("--reuse", action="store_true", help="read pgrec_bench_<size> as it is")
    p.add_argument("--http", action="store_true", help="also over HTTP (c=1 and c=8)")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    url, titles = load_catalog(args.size, args.reuse)
    result: dict[str, Any] = {"size": args.size, "sql": time_sql(url, queries(args.size, titles))}
    if args.http:
        result["http"] = time_http(url, titles, args.size)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
