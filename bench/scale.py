"""`pgrec bench --scale N[,M...]`: pgrec end to end on synthetic catalogs of N items.

Per size, in a database of its own (pgrec_scale_<N>): generate and COPY the synthetic
catalog (bench/scale_catalog.py; ingest rate), build the HNSW index with the settings below
(time, size), load users and refresh co-occurrence, start the API (FakeEmbedder: no model,
the query text is hashed, so encode time is not in these numbers), time it to ready (cold
start, which includes the read-model/snapshot build), read its PSS from
/proc/<pid>/smaps_rollup, and play every mode at c=1 and c=8. Optionally (--halfvec) compare
a halfvec HNSW index with the vector one at the largest size: recall@10, latency, size.
Results: bench/scale.json, a section of bench/REPORT.md and bench/plots/scale.png.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import psycopg

from bench import bench_env as env
from bench import bench_scenarios as sc
from bench import scale_catalog as syn
from bench.bench_catalog import (
    HNSW_INDEX,
    drop_database,
    load_users,
    recreate_database,
    relation_sizes,
)
from bench.bench_server import ApiServer, ServerError
from bench.bench_stats import not_run
from bench.scale_catalog import build_hnsw_index, hnsw_settings
from bench.scale_halfvec import compare_halfvec
from db.engine import database_url
from db.models import DEFAULT_MODEL
from db.settings import get_settings
from jobs.cooccurrence import refresh_cooccurrence

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
# Short passes: at 1M the whole ladder of modes must fit in a few minutes.
SCALE_PROFILE = sc.Profile(c1_requests=120, c1_seconds=3.0, cn_requests=300, cn_seconds=3.0)


@dataclass(frozen=True)
class ScaleConfig:
    sizes: tuple[int, ...]
    out: Path = ROOT / "bench"
    seed: int = 0
    halfvec_size: int | None = None  # compare halfvec with vector at this size
    keep_databases: bool = False
    profile: sc.Profile = SCALE_PROFILE
    argv: tuple[str, ...] = ()


def build_hnsw(url: str, size: int) -> dict[str, Any]:
    """The model's index with PGREC_VECTOR_STORAGE's storage, recorded as rec.semantic reads it."""
    settings = hnsw_settings(size)
    storage = get_settings().vector_storage
    with psycopg.connect(url, autocommit=True) as conn:
        build_s = build_hnsw_index(conn, HNSW_INDEX, storage, size)
        conn.execute(
            "UPDATE embedding_models SET storage = %s WHERE name = %s", (storage, DEFAULT_MODEL)
        )
        t = time.perf_counter()
        conn.execute("VACUUM ANALYZE items")
        conn.execute("VACUUM ANALYZE item_embeddings")
        vacuum_s = time.perf_counter() - t
    return {
        "hnsw_storage": storage,
        "hnsw_build_s": round(build_s, 2),
        "hnsw_items_per_s": round(size / build_s, 1),
        "hnsw_settings": settings,
        "vacuum_analyze_s": round(vacuum_s, 2),
    }


def pss_bytes(pid: int) -> int | None:
    """Proportional set size of a process and its children (shared pages split fairly)."""
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for p in procs:
        try:
            text = Path(f"/proc/{p.pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
    return total


def play_api(url: str, spec: syn.Spec, users: list[str], config: ScaleConfig) -> dict[str, Any]:
    log_dir = (get_settings().data_dir / "bench-cache" / "logs").resolve()
    server = ApiServer(database_url=url, fake=True, log_path=log_dir / f"scale-{spec.size}.log")
    try:
        cold = server.start(timeout=1800.0)
    except ServerError as err:
        return not_run(f"the API did not become ready: {err}")
    try:
        status = server.status()
        pid = server.proc.pid if server.proc is not None else 0
        pss_ready = pss_bytes(pid)
        profile = config.profile
        count = 2 * (max(profile.c1_requests, profile.cn_requests) + profile.warmup)
        plays = sc.scenarios(
            sc.FULL_SCENARIOS,
            profile,
            ids=np.arange(1, spec.size + 1, dtype=np.int64),
            titles=syn.sample_titles(spec),
            uncached=syn.sample_queries(spec, count, config.seed),
            users=users,
            seed=config.seed,
        )
        budget = sum(p.max_seconds + 30 for p in plays) + 120
        results = sc.play(server.base_url, plays, timeout=budget)
        pss_after = pss_bytes(pid)
    finally:
        server.stop()
    snap = status.get("snapshot") or {}
    return {
        "cold_start_s": round(cold, 2),
        "api_pss_ready_bytes": pss_ready,
        "api_pss_bytes": max(x or 0 for x in (pss_ready, pss_after)),
        "snapshot_build_s": snap.get("build_seconds"),
        "snapshot_items": snap.get("size"),
        "snapshot_index": snap.get("index"),
        "scenarios": results,
    }


def one_size(
    server_url: str, size: int, config: ScaleConfig, point: dict[str, Any], save: Callable[[], None]
) -> None:
    """Fill `point` phase by phase, saving the report after each (a long run shows progress)."""
    t = time.perf_counter()
    spec = syn.make_spec(size, config.seed)
    point["generate_spec_s"] = round(time.perf_counter() - t, 2)
    name = f"pgrec_scale_{size}"
    url = recreate_database(server_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")  # built (and timed) after the load
        timings = syn.load(url, spec, progress=log.info)
        load_s = timings["copy_items_s"] + timings["copy_vectors_s"]
        point.update({k: round(v, 2) for k, v in timings.items()})
        point["ingest_items_per_s"] = round(size / load_s, 1)
        save()
        point.update(build_hnsw(url, size))
        point.update(relation_sizes(url))
        save()
        users = load_users(url, np.arange(1, size + 1, dtype=np.int64), users=20, seed=config.seed)
        t = time.perf_counter()
        refresh_cooccurrence(url=url, force=True)
        point["cooccurrence_refresh_s"] = round(time.perf_counter() - t, 2)
        point["api"] = play_api(url, spec, users, config)
        save()
        if size == config.halfvec_size:
            storage = point.get("hnsw_storage", "vector")
            point["halfvec"] = compare_halfvec(url, spec, storage=storage, seed=config.seed)
            save()
    finally:
        if not config.keep_databases:
            drop_database(server_url, name)


def run(config: ScaleConfig) -> dict[str, Any]:
    """Every size in order (smallest first); the report is rewritten after each size."""
    from bench import scale_report

    os.environ.setdefault("PGREC_DEV", "1")  # the bench servers run without an API key
    server_url = database_url()
    data: dict[str, Any] = {
        "tool": "pgrec bench --scale",
        "command": "pgrec bench " + " ".join(config.argv),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": env.machine(),
        "versions": env.versions(server_url),
        "profile": vars(config.profile),
        "embedder": "FakeEmbedder (hashed words): encode time not included",
        "points": scale_report.earlier_points(config.out, config.sizes),
    }
    started = time.perf_counter()

    def save() -> None:
        data["points"].sort(key=lambda p: p["size"])
        data["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        data["wall_seconds"] = round(time.perf_counter() - started, 1)
        scale_report.write(data, config.out)

    for size in sorted(config.sizes):
        log.info("scale: %d items", size)
        point: dict[str, Any] = {"size": size, "command": data["command"]}
        point["load_average"] = [round(x, 2) for x in os.getloadavg()]
        data["points"].append(point)
        one_size(server_url, size, config, point, save)
        point["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        save()
    return data


def run_scale_command(args: argparse.Namespace) -> int:
    """`pgrec bench --scale LIST [--halfvec SIZE]`; ValueError on a bad option."""
    from bench.run import parse_sizes, quiet_loggers

    sizes = parse_sizes(args.scale)
    halfvec = parse_sizes(args.halfvec)[0] if args.halfvec else None
    if halfvec is not None and halfvec not in sizes:
        raise ValueError(f"--halfvec {args.halfvec} is not one of the --scale sizes")
    argv = ["--scale", args.scale] + (["--halfvec", args.halfvec] if args.halfvec else [])
    if Path(args.out).resolve() != ROOT / "bench":
        argv += ["--out", str(args.out)]
    config = ScaleConfig(
        sizes=sizes,
        out=args.out,
        seed=args.seed,
        halfvec_size=halfvec,
        keep_databases=args.keep_databases,
        argv=tuple(argv),
    )
    quiet_loggers()
    data = run(config)
    print(f"wrote {config.out / 'scale.json'} and the scale section of {config.out / 'REPORT.md'}")
    print(f"wall time {data['wall_seconds']} s")
    return 0
