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
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from sqlalchemy import text

from bench import bench_catalog as catalog
from bench import bench_scenarios as sc
from bench.bench_load import Scenario
from bench.bench_server import ROOT, ApiServer
from db.engine import database_url, make_engine
from db.settings import get_settings
from jobs.worker import run_embed

DATABASE = "pgrec_bench_impressions"
DRAIN = 1.0  # seconds: > the recorder's drain interval
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
    engine = make_engine(url)
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


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a process and its children so far."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def _postmaster_pid() -> int | None:
    """The embedded server's postmaster (its backends serve both API servers)."""
    pid_file = get_settings().pgdata_dir / "postmaster.pid"
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _run(server: ApiServer, scenario: Scenario, seconds: float) -> dict[str, Any]:
    """One load run; with the CPU seconds per request the API process and Postgres spent."""
    assert server.proc is not None
    pg = _postmaster_pid()
    before = (_tree_cpu(server.proc.pid), _tree_cpu(pg))
    result = sc.play(server.base_url, [scenario], timeout=seconds + 120)[0]
    time.sleep(DRAIN)  # the impressions queued by this run get written (and counted) too
    api_cpu = _tree_cpu(server.proc.pid) - before[0]
    pg_cpu = _tree_cpu(pg) - before[1]
    row = {k: result.get(k) for k in ("rps", "ok", "errors", "p50_ms", "p95_ms")}
    ok = max(1, int(result.get("ok") or 0))
    row["api_cpu_ms_per_req"] = round(1000 * api_cpu / ok, 3)
    row["pg_cpu_ms_per_req"] = round(1000 * pg_cpu / ok, 3)
    return row


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
                row[label] = _run(server, scenario, args.seconds)
            rounds.append(row)
            print(f"round {n + 1}: off {row['off']['rps']} req/s, on {row['on']['rps']} req/s")
        recorded = _recorded(on)
    finally:
        off.stop()
        on.stop()
    ratios = [r["on"]["rps"] / r["off"]["rps"] for r in rounds if r["off"]["rps"]]

    def cpu(label: str) -> float:
        return float(
            sum(r[label]["api_cpu_ms_per_req"] + r[label]["pg_cpu_ms_per_req"] for r in rounds)
        )

    return {
        # CPU per request is what bounds req/s on a saturated machine, and unlike wall-clock
        # throughput it hardly moves with what else the machine runs.
        "cpu_ms_per_req": {
            "off": round(cpu("off") / len(rounds), 3),
            "on": round(cpu("on") / len(rounds), 3),
        },
        "implied_rps_ratio_on_off": round(cpu("off") / cpu("on"), 4) if cpu("on") else None,
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
    print(
        f"CPU ms per request (API + Postgres) off/on: {report['cpu_ms_per_req']}; "
        f"implied req/s ratio on/off: {report['implied_rps_ratio_on_off']}"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
