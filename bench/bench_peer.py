"""pgrec side by side with the classic design it replaces, in one run on one catalog.

The peer (bench/peer_app.py: FastAPI + FAISS Flat per request, one OpenMP thread, no
database) loads the catalog's ids and vectors, exported here from the bench database. Then,
one server at a time on loopback: the peer, `pgrec serve --workers 1`, `pgrec serve
--workers 2`; each plays item-to-item (and semantic with new and with repeated queries,
when the peer has an encoder) at c=1 and c=8 with wrk on kept-alive connections (or
bench/bench_load.py's client when wrk is missing). Per server: PSS of each worker; on
pgrec with one worker: the freshness lag (bench/peer_measure.py). `run` returns the
report's `peer` part; bench/peer_report.py writes its section and plot.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from bench import bench_scenarios as sc
from bench import bench_wrk as wrk
from bench import peer_measure as pm
from bench.bench_catalog import Catalog, Original
from bench.bench_load import Scenario
from bench.bench_server import ApiServer, ServerError
from bench.bench_stats import not_run
from db.embeddings import active_model
from db.engine import libpq_url, make_engine
from db.settings import Settings
from db.vectors import load_current_vectors

log = logging.getLogger(__name__)
CONCURRENCY = (1, 8)
ITEM_PATHS = 2000  # distinct items cycled by item-to-item
NEW_QUERIES = 20_000  # as many distinct texts as the originals give (~13k), split per pass


@dataclass(frozen=True)
class PeerConfig:
    seconds: float = 3.0  # per pass
    warmup_s: float = 1.0
    fake: bool = False
    seed: int = 0
    changes: int = 50  # freshness
    semantic: bool = True
    filtered: bool = True  # pgrec's filtered scenarios with wrk too (pgrec_w1 only)


class PeerServer(ApiServer):
    """bench/peer_app.py under uvicorn (one worker), ready once `/health` answers."""

    ready_path = "/health"

    def argv(self) -> list[str]:
        app = ["-m", "uvicorn", "bench.peer_app:create_app", "--factory"]
        listen = ["--host", "127.0.0.1", "--port", str(self.port)]
        return [sys.executable, *app, *listen, "--log-level", "warning"]


def export_vectors(url: str, path: Path) -> int:
    """The active model's current vectors and their item ids, as pgrec loads them."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            vectors = load_current_vectors(conn=conn, model=active_model(conn).name)
    finally:
        engine.dispose()
    np.savez(path, ids=vectors.ids, vectors=vectors.matrix)
    return len(vectors)


def modes(cat: Catalog, originals: list[Original], config: PeerConfig) -> dict[str, Any]:
    """Request paths per mode, for pgrec and for the peer (the peer has no `mode=`)."""
    rng = np.random.default_rng(config.seed + 5)
    picked = rng.choice(cat.ids, size=min(ITEM_PATHS, len(cat.ids)), replace=False)
    items = [f"/items/{int(i)}/similar?n=10" for i in picked]
    out: dict[str, Any] = {"item_to_item": {"pgrec": items, "peer": items}}
    if config.semantic:
        # A new query per request: each pass below gets a slice no other pass has used.
        new = [_q(q) for q in sc.distinct_queries(originals, NEW_QUERIES, config.seed + 3)]
        out["semantic_new"] = {"pgrec": [f"{p}&mode=semantic" for p in new], "peer": new}
        rep = [_q(q) for q in sc.CACHED_QUERIES]
        out["semantic_repeated"] = {"pgrec": [f"{p}&mode=semantic" for p in rep], "peer": rep}
    return out


def _q(text: str) -> str:
    return "/recommendations?" + urlencode({"q": text, "n": 10})


def _pass(base_url: str, paths: list[str], conc: int, seconds: float) -> dict[str, Any]:
    if wrk.available():
        try:
            return wrk.run(base_url, paths, connections=conc, seconds=seconds)
        except (RuntimeError, ValueError) as err:
            return {"concurrency": conc, **not_run(f"wrk failed: {err}")}
    scenario = Scenario("peer", [{"method": "GET", "url": p} for p in paths], conc, 10**6, seconds)
    (result,) = sc.play(base_url, [scenario], timeout=seconds + 60)
    return {"client": "bench_load (wrk missing)", **result}


def filtered_passes(base_url: str, config: PeerConfig) -> list[dict[str, Any]]:
    """Each of bench_scenarios' filtered scenarios on wrk at c=1 and c=8: the same requests
    as the API latency table's rows, from a client that takes far less CPU from the server
    than bench_load's (on 2 cores it competes with Postgres and the API). The query
    encoder's cache already holds these texts (semantic_repeated played them), so every
    request is the filtered path itself: Postgres' planner and the API around it."""
    out = []
    for name in sc.FILTERED:
        paths = sc.filtered_urls(name)
        _pass(base_url, paths, 1, min(0.5, config.warmup_s))  # first plans not counted
        for conc in CONCURRENCY:
            log.info("peer bench: pgrec_w1 %s c=%d (wrk)", name, conc)
            out.append(
                {"name": name, "concurrency": conc, **_pass(base_url, paths, conc, config.seconds)}
            )
    return out


def _play(
    server_name: str, base_url: str, plan: dict[str, Any], side: str, config: PeerConfig
) -> list[dict[str, Any]]:
    out = []
    warm = plan["item_to_item"][side]
    _pass(base_url, warm, 2, config.warmup_s)  # first requests (imports, pools) not counted
    for mode, paths in plan.items():
        if server_name == "pgrec_w2" and mode != "item_to_item":
            continue  # workers are compared on item-to-item, the read model's main mode
        for conc in CONCURRENCY:
            use = paths[side]
            if mode == "semantic_new":  # a slice per (server, concurrency): never repeated
                slot = ["peer", "pgrec_w1"].index(server_name) * len(CONCURRENCY)
                slot += CONCURRENCY.index(conc)
                size = len(use) // (2 * len(CONCURRENCY))
                use = use[slot * size : (slot + 1) * size]
            log.info("peer bench: %s %s c=%d", server_name, mode, conc)
            result = _pass(base_url, use, conc, config.seconds)
            if mode == "semantic_new":  # more requests than texts: the cache saw some again
                result["distinct_queries"] = len(use)
                result["repeated"] = int(result.get("ok") or 0) > len(use)
            out.append({"server": server_name, "mode": mode, "concurrency": conc, **result})
    return out


def _serve(server: ApiServer, body: Callable[[ApiServer], dict[str, Any]]) -> dict[str, Any]:
    try:
        cold = server.start()
    except ServerError as err:
        return not_run(f"did not become ready: {err}")
    try:
        # Passes start once every worker serves with its encoder: not while models load.
        settled = server.settle()
        memory_ready = pm.process_tree_pss(server.pid) if server.pid else None
        result = body(server)
        memory = pm.process_tree_pss(server.pid) if server.pid else None
    finally:
        server.stop()
    return {
        "cold_start_s": round(cold, 3),
        "settled_s": round(settled, 3),
        "pss_ready": memory_ready,
        "pss": memory,
        **result,
    }


def run(
    cat: Catalog, originals: list[Original], config: PeerConfig, log_dir: Path
) -> dict[str, Any]:
    """Every server in turn, then the ratios; the report's `peer` part."""
    client = "wrk" if wrk.available() else "bench_load (not run: wrk missing)"
    plan = modes(cat, originals, config)
    passes: list[dict[str, Any]] = []
    servers: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pgrec-peer-") as tmp:
        npz = Path(tmp) / "catalog.npz"
        exported = export_vectors(cat.url, npz)
        encoder = ("fake" if config.fake else "real") if config.semantic else "none"
        peer = PeerServer(
            database_url=cat.url,
            fake=config.fake,
            log_path=log_dir / f"peer-{cat.size}.log",
            extra_env={
                "PGREC_PEER_VECTORS": str(npz),
                "PGREC_PEER_EMBEDDER": encoder,
            },
        )

        def played(name: str, side: str) -> Callable[[ApiServer], dict[str, Any]]:
            def body(server: ApiServer) -> dict[str, Any]:
                got = _play(name, server.base_url, plan, side, config)
                passes.extend(got)
                extra: dict[str, Any] = {}
                if name == "pgrec_w1" and config.filtered and config.semantic:
                    extra["filtered"] = filtered_passes(server.base_url, config)
                if name == "pgrec_w1" and config.changes:
                    extra["freshness"] = pm.freshness(
                        server.base_url,
                        libpq_url(cat.url),
                        cat.ids,
                        changes=config.changes,
                        seed=config.seed,
                    )
                return extra

            return body

        servers["peer"] = _serve(peer, played("peer", "peer"))
        for workers in (1, 2):
            name = f"pgrec_w{workers}"
            server = ApiServer(
                database_url=cat.url,
                fake=config.fake,
                log_path=log_dir / f"serve-{cat.size}-w{workers}.log",
                workers=workers,
            )
            servers[name] = _serve(server, played(name, "pgrec"))
    w1, w2 = servers["pgrec_w1"].get("pss"), servers["pgrec_w2"].get("pss")
    return {
        "size": cat.size,
        "vectors": exported,
        "client": client,
        "seconds_per_pass": config.seconds,
        "concurrency": list(CONCURRENCY),
        "peer_encoder": encoder,
        "servers": servers,
        "passes": passes,
        "ratios": pm.side_by_side(passes),
        "second_worker_pss_bytes": pm.second_worker(w1, w2),
        "freshness": servers["pgrec_w1"].get("freshness")
        or not_run("pgrec with one worker did not run"),
        "filtered": servers["pgrec_w1"].get("filtered") or [],
        # The servers inherit this environment: PGREC_QUERY_SLOTS, or the cores.
        "query_slots": Settings().query_slots,
    }
