"""A quick probe of the serving tier against an existing database: `pgrec serve --workers N`,
item-to-item on kept-alive connections at c=1 and c=8, PSS per worker, freshness lag.

    python -m bench.serving_probe --database-url URL --workers 2 [--freshness 60]

Not part of `pgrec bench` (which builds its own catalogs): a smoke run for the serving
changes, printing one line per measure. Freshness: an item is inserted with a copy of an
existing item's vector (committed), then `POST /recommendations/from-items` is polled until
it shows; then it is deleted and polled until gone. Measured on whatever machine runs it:
compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from bench.bench_server import free_port

ROOT = Path(__file__).resolve().parent.parent


def pss_mib(pid: int) -> float:
    """Proportional set size of one process (shared pages split among their users)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000 if xs else float("nan")


def _wait_ready(http: httpx.Client, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    streak = 0
    while streak < 20:  # every worker answered ready with its model loaded, most likely
        if time.monotonic() > deadline:
            raise SystemExit("server not ready in time")
        try:
            r = http.get("/health/ready")
            semantic = r.status_code == 200 and r.json()["modes"]["semantic"]
            streak = streak + 1 if semantic else 0
        except httpx.HTTPError:
            streak = 0
        time.sleep(0.1)


def _similar(http: httpx.Client, i: int, items: int) -> None:
    r = http.get(f"/items/{1 + (i * 7919) % items}/similar", params={"n": "10"})
    if r.status_code not in (200, 404):
        raise SystemExit(f"item-to-item answered {r.status_code}: {r.text[:200]}")


def item_to_item(base: str, items: int, conc: int, seconds: float) -> tuple[float, float]:
    """(req/s, p50 ms) of item-to-item with `conc` kept-alive clients."""
    lat: list[float] = []
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def worker(k: int) -> None:
        mine: list[float] = []
        with httpx.Client(base_url=base, timeout=10) as http:
            i = k
            while time.perf_counter() < end:
                t = time.perf_counter()
                _similar(http, i, items)
                mine.append(time.perf_counter() - t)
                i += conc
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(lat) / seconds, _quantile(lat, 0.5)


def freshness(base: str, url: str, trials: int) -> tuple[list[float], list[float]]:
    """Commit -> visible lags (s) of inserted-and-embedded items, then of their deletion."""
    shown: list[float] = []
    gone: list[float] = []
    with (
        httpx.Client(base_url=base, timeout=10) as http,
        psycopg.connect(url, autocommit=True) as db,
    ):
        source = db.execute("SELECT item_id FROM item_embeddings LIMIT 1").fetchone()
        if source is None:
            raise SystemExit("no vectors in the database")
        for t in range(trials):
            row = db.execute(
                "INSERT INTO items (external_id, title) VALUES (%s, 'probe') RETURNING id",
                (f"probe:{time.time()}:{t}",),
            ).fetchone()
            assert row is not None
            new_id = int(row[0])
            db.execute(
                "INSERT INTO item_embeddings (item_id, model, embedding, content_hash)"
                " SELECT %s, model, embedding, (SELECT content_hash FROM items WHERE id = %s)"
                " FROM item_embeddings WHERE item_id = %s",
                (new_id, new_id, source[0]),
            )
            shown.append(_until(http, source[0], new_id, present=True))
            db.execute("DELETE FROM items WHERE id = %s", (new_id,))
            gone.append(_until(http, source[0], new_id, present=False))
    return shown, gone


def _until(http: httpx.Client, source: int, item: int, *, present: bool) -> float:
    committed = time.perf_counter()
    while time.perf_counter() - committed < 10:
        body: dict[str, Any] = http.post(
            "/recommendations/from-items", json={"positive": [source]}, params={"n": "3"}
        ).json()
        if (item in {r["id"] for r in body["results"]}) == present:
            return time.perf_counter() - committed
        time.sleep(0.002)
    raise SystemExit(f"item {item} not {'shown' if present else 'gone'} within 10 s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seconds", type=float, default=8.0, help="per load pass")
    p.add_argument("--freshness", type=int, default=0, metavar="TRIALS")
    args = p.parse_args(argv)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=args.database_url, HF_HUB_OFFLINE="1")
    env.setdefault("PGREC_API_KEY", "probe")
    serve = [sys.executable, "-m", "pgrec", "serve", "--workers", str(args.workers)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*serve, "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            _wait_ready(http)
            print(f"ready with the model after {time.perf_counter() - started:.1f}s")
            items = int(http.get("/status").json()["snapshot"]["items"]) or 1
        for conc in (1, 8):
            rps, p50 = item_to_item(base, items, conc, args.seconds)
            print(f"item-to-item c={conc}: {rps:.0f} req/s, p50 {p50:.2f} ms")
        kids = psutil.Process(proc.pid).children(recursive=True)
        pids = [k.pid for k in kids] if args.workers > 1 else [proc.pid]
        print("PSS MiB per process:", [round(pss_mib(pid)) for pid in pids])
        if args.freshness:
            shown, gone = freshness(base, args.database_url, args.freshness)
            for name, lags in (("insert+embed", shown), ("delete", gone)):
                print(
                    f"freshness {name}: p50 {_quantile(lags, 0.5):.1f} ms,"
                    f" p99 {_quantile(lags, 0.99):.1f} ms (n={len(lags)})"
                )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
