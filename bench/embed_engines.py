"""Encoding engines side by side: query latency, and a fresh process's start and memory.

Used by `bench/embed.py`. A probe is a new Python process that imports the API app (what
an API worker carries anyway), builds the query encoder with one engine, encodes a query
and reports its PSS (`/proc/self/smaps_rollup`) and whether torch got imported; the parent
times it from spawn to that answer (cold start of the encoder, imports included).

    python -m bench.embed_engines --probe onnx|torch   # one probe, prints JSON
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PROBE_ENGINES = ("torch", "onnx")


def pss_mib(pid: int | str = "self") -> float | None:
    """Proportional set size of a process in MiB (shared pages split among their users)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def query_latency(encode: Any, queries: Sequence[str]) -> dict[str, float]:
    """p50/p99 milliseconds of one uncached `encode([q])` call per query, wall clock and
    CPU time of this process (the CPU figure holds up better on a busy machine)."""
    encode([queries[0]])  # first call allocates
    wall, cpu = [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        encode([q])
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    wall.sort()
    return {
        "p50_ms": statistics.median(wall),
        "p99_ms": wall[min(len(wall) - 1, int(0.99 * len(wall)))],
        "cpu_p50_ms": statistics.median(cpu),
        "n": len(wall),
    }


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Row-wise cosine of two sets of unit vectors: mean and minimum."""
    cos = np.sum(a * b, axis=1)
    return {"mean": float(np.mean(cos)), "min": float(np.min(cos))}


def top10_agreement(
    reference: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray]
) -> float:
    """Mean share of the reference's top 10 items that `other` also ranks in its top 10.

    Each side is (query vectors, item vectors) from one engine: a cheap stand-in for
    relevance that needs no judgments (1.0 = the same answers).
    """
    k = 10
    ref = np.argsort(-(reference[0] @ reference[1].T), axis=1)[:, :k]
    got = np.argsort(-(other[0] @ other[1].T), axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ref, got, strict=True)]))


def probe(engine: str) -> dict[str, Any]:
    """In a fresh process: the API's imports, then its query encoder on `engine`."""
    started = time.perf_counter()
    os.environ["PGREC_ENCODER_ENGINE"] = engine
    import api.app  # noqa: F401  (what every API worker imports)
    from jobs.embedder import QueryEncoder
    from jobs.engines import query_engine

    imported = time.perf_counter()
    encoder = QueryEncoder(query_engine(None, "all-MiniLM-L6-v2"))
    encoder.encode_query("feel-good romantic comedy set in Paris")
    return {
        "engine": getattr(encoder.embedder, "engine", "torch"),
        "import_seconds": imported - started,
        "load_seconds": time.perf_counter() - imported,
        "pss_mib": pss_mib(),
        "torch_imported": "torch" in sys.modules,
    }


def run_probe(engine: str) -> dict[str, Any]:
    """Spawn a probe; `cold_seconds` is spawn to answer, the interpreter's start included."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.embed_engines", "--probe", engine],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        return {"engine": engine, "error": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["cold_seconds"] = seconds
    return result


def probes() -> list[dict[str, Any]]:
    """One probe per engine, the torch one first (what an API worker loads today)."""
    return [run_probe(engine) for engine in PROBE_ENGINES]


def engine_lines(queries: dict[str, dict[str, float]], probes: list[dict[str, Any]]) -> list[str]:
    """Report lines: query encode latency per engine, then each probe's start and PSS."""
    lines = [
        f"query encode {key:<22} p50 {q['p50_ms']:6.2f} ms  p99 {q['p99_ms']:6.2f} ms"
        f"  CPU p50 {q['cpu_p50_ms']:6.2f} ms  ({q['n']:.0f} distinct titles, one per call)"
        for key, q in queries.items()
    ]
    for p in probes:
        if "error" in p:
            lines.append(f"probe {p['engine']}: failed: {p['error']}")
            continue
        pss = p["pss_mib"]
        lines.append(
            f"API-like process, {p['engine']:<6}: cold start {p['cold_seconds']:.2f} s "
            f"(imports {p['import_seconds']:.2f} s, encoder {p['load_seconds']:.2f} s), "
            f"PSS {pss:.0f} MiB, torch imported: {p['torch_imported']}"
        )
    if len(probes) == 2 and all(p.get("pss_mib") for p in probes):
        lines.append(f"PSS saved per worker: {probes[0]['pss_mib'] - probes[1]['pss_mib']:.0f} MiB")
    return lines


def engines_under_test(int8: bool) -> dict[str, Any]:
    """Pass name -> embedder: the torch reference, the worker's engine (bf16 where gated in;
    then ONNX fp32 too), the int8 version."""
    from jobs.embedder import DEFAULT_MODEL_PATH, load_embedder
    from jobs.engines import load_engine

    passes: dict[str, Any] = {
        "torch pipeline": load_embedder(),  # sentence-transformers fp32, length-bucketed
        "pipeline": load_engine(),  # what `pgrec embed` runs: bf16 where gated in, else ONNX
    }
    if getattr(passes["pipeline"], "engine", "") != "onnx":  # ONNX fp32 beside it
        passes["onnx"] = load_engine(choice="onnx")
    if int8:
        passes["int8"] = load_engine("int8:" + DEFAULT_MODEL_PATH, "int8 version")
    return passes


def query_engines(passes: dict[str, Any]) -> dict[str, Any]:
    """Single-query encoders as the API builds them (ONNX: 1 thread; also 2 to compare)."""
    from jobs.onnx_engine import OnnxEmbedder

    out: dict[str, Any] = {"torch": passes["torch pipeline"]}
    for key in ("pipeline", "onnx", "int8"):
        e = passes.get(key)
        if isinstance(e, OnnxEmbedder):
            for threads in (1, 2):
                out[f"{e.engine} {threads} thread"] = OnnxEmbedder(
                    e.onnx_path, e.layout, e.name, engine=e.engine, threads=threads
                )
    return out


def default_torch_threads() -> int:
    """The intra-op thread count torch starts with (one per usable core): what plain
    `encode` runs with in a fresh process, whatever a bf16 engine set earlier in this one."""
    return max(1, len(os.sched_getaffinity(0)))


def torch_threads(threads: int | None = None) -> int:
    """torch's intra-op thread count, set first when `threads` is given."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return int(torch.get_num_threads())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.embed_engines", description=__doc__)
    parser.add_argument("--probe", choices=PROBE_ENGINES, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(json.dumps(probe(args.probe)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
