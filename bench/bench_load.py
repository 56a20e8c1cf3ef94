"""The load generator: an asyncio httpx client, run as a process of its own.

`python -m bench.bench_load SPEC.json OUT.json` reads scenarios (a list of requests each,
a concurrency, a request budget and a time budget), plays each against the server and
writes per-scenario latencies (p50/p95/p99), requests/s, errors and the backends the
answers name. Every scenario stops by itself: after `max_requests`, after `max_seconds`, or
when its request list runs out (`cycle: false`, used for uncached queries). Warm-up requests
come first and are not measured. The parent (`bench/run.py`) starts it with a timeout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.bench_stats import latency_summary


@dataclass
class Scenario:
    name: str
    requests: list[dict[str, Any]]  # {"method": "GET", "url": "/...", "json": ...}
    concurrency: int = 8
    max_requests: int = 200
    max_seconds: float = 5.0
    warmup: int = 0
    cycle: bool = True

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scenario:
        return cls(**data)


@dataclass
class _Tally:
    seconds: list[float] = field(default_factory=list)
    errors: int = 0
    error_sample: str | None = None
    backends: dict[str, int] = field(default_factory=dict)
    sizes: list[int] = field(default_factory=list)


async def _one(client: httpx.AsyncClient, req: dict[str, Any], tally: _Tally | None) -> None:
    started = time.perf_counter()
    try:
        r = await client.request(req.get("method", "GET"), req["url"], json=req.get("json"))
        elapsed = time.perf_counter() - started
    except httpx.HTTPError as err:
        if tally is not None:
            tally.errors += 1
            tally.error_sample = tally.error_sample or f"{type(err).__name__}: {err}"
        return
    if tally is None:
        return
    if r.status_code != 200:
        tally.errors += 1
        tally.error_sample = tally.error_sample or f"HTTP {r.status_code}: {r.text[:200]}"
        return
    tally.seconds.append(elapsed)
    if len(tally.sizes) < 20:  # a sample: parsing every body would load the client
        body = r.json()
        backend = str(body.get("backend", "?"))
        tally.backends[backend] = tally.backends.get(backend, 0) + 1
        tally.sizes.append(int(body.get("count", len(body.get("results", [])))))


async def run_scenario(client: httpx.AsyncClient, s: Scenario) -> dict[str, Any]:
    """Warm up, then play the scenario with `s.concurrency` workers until a budget ends."""
    reqs = s.requests
    for req in reqs[: s.warmup]:
        await _one(client, req, None)
    measured = reqs[s.warmup :] if len(reqs) > s.warmup else reqs
    limit = s.max_requests if s.cycle else min(s.max_requests, len(measured))
    tally = _Tally()
    issued = 0
    deadline = time.perf_counter() + s.max_seconds

    async def worker() -> None:
        nonlocal issued
        while issued < limit and time.perf_counter() < deadline:
            req = measured[issued % len(measured)]
            issued += 1
            await _one(client, req, tally)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, s.concurrency))))
    wall = time.perf_counter() - started
    done = len(tally.seconds)
    return {
        "name": s.name,
        "concurrency": s.concurrency,
        "ok": done,
        "errors": tally.errors,
        "error_sample": tally.error_sample,
        "seconds": round(wall, 3),
        "rps": round(done / wall, 1) if wall > 0 else None,
        **latency_summary(tally.seconds),
        "backends": tally.backends,
        "mean_results": round(sum(tally.sizes) / len(tally.sizes), 1) if tally.sizes else None,
    }


async def run_all(base_url: str, scenarios: list[Scenario]) -> list[dict[str, Any]]:
    most = max((s.concurrency for s in scenarios), default=1)
    limits = httpx.Limits(max_connections=most, max_keepalive_connections=most)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits) as client:
        return [await run_scenario(client, s) for s in scenarios]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.bench_load SPEC.json OUT.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text())
    if not spec["base_url"].startswith(("http://127.0.0.1:", "http://localhost:")):
        print("bench_load only targets loopback", file=sys.stderr)
        return 2
    scenarios = [Scenario.from_json(s) for s in spec["scenarios"]]
    results = asyncio.run(run_all(spec["base_url"], scenarios))
    Path(args[1]).write_text(json.dumps({"scenarios": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
