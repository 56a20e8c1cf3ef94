"""What the side-by-side run measures beside load: PSS per worker, freshness lag, ratios.

PSS (proportional set size, `/proc/<pid>/smaps_rollup`) charges each shared page to the
processes mapping it in equal parts, so the sum over the workers is what the machine pays
and the difference between 2 workers and 1 is what the second one adds (RSS would count
shared pages once per process). Freshness: flip an item's `available` in Postgres, commit,
and poll the API until a response shows it; the lag is commit -> first response that does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import psycopg

from bench.bench_stats import latency_summary, ratio

FRESH_TIMEOUT_S = 5.0
FRESH_POLL_S = 0.002


def parse_pss(text: str) -> int:
    """Bytes of `Pss:` in a smaps_rollup text (kB lines); ValueError when there is none."""
    for line in text.splitlines():
        if line.startswith("Pss:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                unit = parts[2] if len(parts) > 2 else "kB"
                if unit != "kB":
                    raise ValueError(f"unexpected unit in {line!r}")
                return int(parts[1]) * 1024
    raise ValueError("no Pss: line in smaps_rollup")


def pss_bytes(pid: int) -> int | None:
    try:
        return parse_pss(Path(f"/proc/{pid}/smaps_rollup").read_text())
    except (OSError, ValueError):
        return None


def _helper(cmdline: list[str]) -> bool:
    """multiprocessing's resource tracker: a child of the supervisor that serves nobody."""
    return any("resource_tracker" in part for part in cmdline)


def process_tree_pss(root_pid: int) -> dict[str, Any]:
    """PSS of the server's processes: the workers, the supervisor (when there are workers)."""
    try:
        root = psutil.Process(root_pid)
        children = root.children(recursive=True)
        tree = [(p.pid, p.cmdline()) for p in (root, *children)]
    except psutil.Error as err:
        return {"status": "not run", "reason": f"process tree unreadable: {err}"}
    return classify(root_pid, tree, pss_bytes)


def classify(
    root_pid: int, tree: Iterable[tuple[int, list[str]]], read: Callable[[int], int | None]
) -> dict[str, Any]:
    """Worker / supervisor / helper roles and PSS; one process alone is its own worker."""
    procs = list(tree)
    has_workers = any(pid != root_pid and not _helper(cmd) for pid, cmd in procs)
    rows = []
    for pid, cmd in procs:
        if _helper(cmd):
            role = "helper"
        elif pid == root_pid and has_workers:
            role = "supervisor"
        else:
            role = "worker"
        rows.append({"pid": pid, "role": role, "pss_bytes": read(pid)})
    workers = [r["pss_bytes"] for r in rows if r["role"] == "worker"]
    known = [r["pss_bytes"] for r in rows if r["pss_bytes"] is not None]
    return {
        "processes": rows,
        "workers": len(workers),
        "worker_pss_bytes": workers,
        "workers_pss_bytes": sum(w for w in workers if w is not None),
        "total_pss_bytes": sum(known),
    }


def second_worker(one: dict[str, Any] | None, two: dict[str, Any] | None) -> int | None:
    """PSS the machine pays for a second worker: workers' sum at 2 minus at 1."""
    if not one or not two or "workers_pss_bytes" not in one or "workers_pss_bytes" not in two:
        return None
    return int(two["workers_pss_bytes"] - one["workers_pss_bytes"])


def side_by_side(passes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per mode and concurrency: pgrec (1 and 2 workers) over the peer, and 2 over 1 worker."""
    by = {(p["server"], p["mode"], p["concurrency"]): p for p in passes if "rps" in p}
    keys = dict.fromkeys((p["mode"], p["concurrency"]) for p in passes)
    out = []
    for mode, conc in keys:
        peer = by.get(("peer", mode, conc), {})
        row: dict[str, Any] = {"mode": mode, "concurrency": conc}
        for name in ("pgrec_w1", "pgrec_w2"):
            mine = by.get((name, mode, conc), {})
            for metric in ("rps", "p50_ms", "p99_ms"):
                value = ratio(mine.get(metric), peer.get(metric))
                row[f"{name}_vs_peer_{metric}"] = None if value is None else round(value, 2)
        w1, w2 = by.get(("pgrec_w1", mode, conc), {}), by.get(("pgrec_w2", mode, conc), {})
        value = ratio(w2.get("rps"), w1.get("rps"))
        row["w2_vs_w1_rps"] = None if value is None else round(value, 2)
        out.append(row)
    return out


def _visible(body: dict[str, Any], item: int, target: bool) -> bool:
    for r in body.get("results", []):
        if r.get("id") == item:
            return bool(r.get("available")) == target
    return not target  # an unavailable item left out of the answer is its change, seen


def freshness(
    base_url: str, libpq_url: str, ids: np.ndarray, *, changes: int, seed: int
) -> dict[str, Any]:
    """Lag from commit to visible in `/items/{y}/similar`, flipping then restoring items."""
    rng = np.random.default_rng(seed + 77)
    lags: list[float] = []
    missed = 0
    with (
        httpx.Client(base_url=base_url, timeout=5.0) as client,
        psycopg.connect(libpq_url, autocommit=True) as conn,
    ):
        for anchor in rng.choice(ids, size=max(1, changes // 2), replace=False):
            path = f"/items/{int(anchor)}/similar?n=10&fields=available"
            r = client.get(path)
            results = r.json().get("results", []) if r.status_code == 200 else []
            if not results:
                continue
            item, was = int(results[0]["id"]), bool(results[0].get("available", True))
            for target in (not was, was):  # the flip, then back: the catalog ends as it was
                conn.execute("UPDATE items SET available = %s WHERE id = %s", (target, item))
                committed = time.perf_counter()
                while time.perf_counter() - committed < FRESH_TIMEOUT_S:
                    r = client.get(path)
                    if r.status_code == 200 and _visible(r.json(), item, target):
                        lags.append(time.perf_counter() - committed)
                        break
                    time.sleep(FRESH_POLL_S)
                else:
                    missed += 1
    return {
        "change": "UPDATE items SET available = NOT available (autocommit), then back",
        "watched": "GET /items/{anchor}/similar?n=10&fields=available",
        "poll_interval_ms": FRESH_POLL_S * 1000,
        "timeout_s": FRESH_TIMEOUT_S,
        "not_visible_within_timeout": missed,
        **latency_summary(lags),
    }
