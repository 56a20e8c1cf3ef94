"""What recording impressions costs: item-to-item req/s with recording off and on, side by side.

`python -m bench.bench_impressions` builds a scratch catalog (synthetic items, FakeEmbedder
vectors), starts two API servers on it (PGREC_IMPRESSIONS=false and =true, the same code
otherwise) and plays the same item-to-item load against each in alternating rounds (the
order flips every round, so a machine whose load drifts hurts both alike). It writes
bench/impressions.json and prints the req/s ratio on/off; the goal is >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import create_engine, text

from bench import bench_catalog as catalog
from bench import bench_scenarios as sc
from bench.bench_load import Scenario
from bench.bench_server import ROOT, ApiServer
from db.engine import database_url, sqlalchemy_url
from db.settings import get_settings
from jobs.worker import run_embed

DATABASE = "pgrec_bench_impressions"
WORDS = [
    "space",
    "chef",
    "heist",
    "love",
    "ocean",
    "war",
    "robot",
    "horse",
    "music",
    "king",
    "ghost",
    "city",
    "winter",
    "desert",
]


def build(server_url: str, items: int) -> tuple[str, np.ndarray]:
    """A migrated scratch database with `items` embedded items; (its URL, the item ids)."""
    url = catalog.recreate_database(server_url, DATABASE)
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE embedding_models SET path = 'fake:384'"))
            conn.execute(
                text(
                    "INSERT INTO items (external_id, title, description)"
                    " SELECT 'b' || g, 'Item ' || g, w[g % 14 + 1] || ' ' || w[g % 5 + 1]"
                    " || ' story ' || (g % 97)"
                    " FROM generate_series(1, :n) g, CAST(:w AS text[]) w"
                ),
                {"w": WORDS, "n": items},
            )
        run_embed(engine)
        with engine.connect() as conn:
            ids = np.array(conn.execute(text("SELECT id FROM items")).scalars().all())
    finally:
        engine.dispose()
    return url, ids


def _scenario(ids: np.ndarray, seconds: float, concurrency: int, seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    pick = rng.choice(ids, size=min(500, len(ids)), replace=False)
    reqs = [{"method": "GET", "url": f"/items/{int(i)}/similar?n=10"} for i in pick]
    return Scenario(
        name="item_to_item",
        requests=reqs,
        concurrency=concurrency,
        max_requests=10**7,
        max_seconds=seconds,
        warmup=20,
    )


def _server(url: str, recording: bool, logs: Path) -> ApiServer:
    os.environ["PGREC_IMPRESSIONS"] = "true" if recording else "false"
    name = "on" if recording else "off"
    server = ApiServer(database_url=url, fake=True, log_path=logs / f"impressions-{name}.log")
    server.start()
    return server


def _recorded(server: ApiServer) -> dict[str, float]:
    """The impression counters of a server's /metrics."""
    body = httpx.get(server.base_url + "/metrics", timeout=10.0).text
    wanted = ("pgrec_impressions_written_total", "pgrec_impressions_dropped_total")
    return {
        name: float(line.split()[-1])
        for line in body.splitlines()
        for name in wanted
        if line.startswith(name + " ")
    }


def measure(url: str, ids: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    logs = (get_settings().data_dir / "bench-cache" / "logs").resolve()
    off, on = _server(url, False, logs), _server(url, True, logs)
    rounds: list[dict[str, Any]] = []
    try:
        for n in range(args.rounds):
            order = [("off", off), ("on", on)] if n % 2 == 0 else [("on", on), ("off", off)]
            row: dict[str, Any] = {"round": n + 1}
            for label, server in order:
                scenario = _scenario(ids, args.seconds, args.concurrency, seed=n)
                result = sc.play(server.base_url, [scenario], timeout=args.seconds + 120)[0]
                row[label] = {k: result.get(k) for k in ("rps", "ok", "errors", "p50_ms", "p95_ms")}
            rounds.append(row)
            print(f"round {n + 1}: off {row['off']['rps']} req/s, on {row['on']['rps']} req/s")
        recorded = _recorded(on)
    finally:
        off.stop()
        on.stop()
    ratios = [r["on"]["rps"] / r["off"]["rps"] for r in rounds if r["off"]["rps"]]
    return {
        "items": len(ids),
        "concurrency": args.concurrency,
        "seconds_per_run": args.seconds,
        "rounds": rounds,
        "ratio_on_off_median": round(statistics.median(ratios), 4) if ratios else None,
        "ratios": [round(r, 4) for r in ratios],
        "errors": sum(r[k]["errors"] or 0 for r in rounds for k in ("off", "on")),
        "recording_on": recorded,  # proof the "on" server really wrote (and what it dropped)
    }


def hot_path_us(calls: int = 50_000) -> float:
    """Microseconds per impression on the request path: a request id, the row, the queue."""
    import datetime as dt
    import time
    import uuid

    from prometheus_client import CollectorRegistry

    from api.impressions import Recorder
    from api.online_metrics import OnlineMetrics
    from db.impressions import ImpressionRow

    recorder = Recorder(capacity=calls, enabled=True, metrics=OnlineMetrics(CollectorRegistry()))
    items = tuple(range(10))
    started = time.perf_counter()
    for _ in range(calls):
        rid = str(uuid.uuid4())
        recorder.offer(
            ImpressionRow(rid, dt.datetime.now(dt.UTC), None, "similar", "default", None, 1, items)
        )
    return (time.perf_counter() - started) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_impressions")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0, help="per run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "impressions.json")
    args = parser.parse_args(argv)
    server_url = database_url()
    url, ids = build(server_url, args.items)
    try:
        report = measure(url, ids, args)
    finally:
        catalog.drop_database(server_url, DATABASE)
    report["hot_path_us_per_request"] = round(hot_path_us(), 2)
    report["note"] = "measured under load: compare the ratio, not the absolute req/s"
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    ratio = report["ratio_on_off_median"]
    print(f"impressions on/off req/s, median of {args.rounds} rounds: {ratio}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
