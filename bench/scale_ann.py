"""In-process measurement of the read model's index kinds on synthetic clustered catalogs.

For each size: the exact FAISS Flat index against IVF over fp16 (api.ann_index), built from
the scale bench's clustered vectors (bench.scale_catalog); recall@10 against exact for held-out
in-distribution queries and for random unit queries (what a hashing fake embedder sends), per
query p50/p99 on one thread at several nprobe values, build seconds and file bytes.

    python -m bench.scale_ann 100k,300k,1m [--out bench/scale_ann.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from api.ann_index import IndexOptions, build_index, cells, prepare
from bench.scale_catalog import CHUNK, make_spec, vectors

K = 10
QUERIES = 200
NPROBES = (16, 32, 64, 96, 128)


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def catalog(size: int) -> tuple[np.ndarray, np.ndarray]:
    """`size` item vectors and QUERIES held-out vectors of the same clusters."""
    total = size + QUERIES
    spec = make_spec(total)
    parts = [vectors(spec, a, min(a + CHUNK, total)) for a in range(0, total, CHUNK)]
    data = np.concatenate(parts)
    return np.ascontiguousarray(data[:size]), np.ascontiguousarray(data[size:])


def random_queries(dim: int) -> np.ndarray:
    q = np.random.default_rng(7).standard_normal((QUERIES, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q


def timed_search(index: faiss.Index, queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    faiss.omp_set_num_threads(1)
    found, times = [], []
    for q in queries:
        t = time.perf_counter()
        _, rows = index.search(q.reshape(1, -1), K)
        times.append((time.perf_counter() - t) * 1000)
        found.append(rows[0])
    return np.stack(found), times


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def write_and_map(index: faiss.Index, directory: Path, name: str) -> tuple[faiss.Index, int]:
    path = directory / name
    faiss.write_index(index, str(path))
    return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC), os.path.getsize(path)


def measure(size: int, directory: Path) -> dict[str, Any]:
    data, held_out = catalog(size)
    dim = data.shape[1]
    query_sets = {"held_out": held_out, "random": random_queries(dim)}
    out: dict[str, Any] = {"items": size, "dim": dim}
    t = time.perf_counter()
    flat = build_index(data, dim, IndexOptions(ann_min_items=size + 1))
    out["flat_build_s"] = round(time.perf_counter() - t, 2)
    flat, out["flat_bytes"] = write_and_map(flat, directory, "flat.faiss")
    truth = {}
    for name, queries in query_sets.items():
        truth[name], times = timed_search(flat, queries)
        out[f"flat_{name}_p50_ms"] = round(float(np.percentile(times, 50)), 3)
        out[f"flat_{name}_p99_ms"] = round(float(np.percentile(times, 99)), 3)
    del flat
    options = IndexOptions(ann_min_items=1)
    t = time.perf_counter()
    ann = build_index(data, dim, options)
    out["ivf_build_s"] = round(time.perf_counter() - t, 2)
    out["ivf_cells"] = cells(size)
    ann, out["ivf_bytes"] = write_and_map(ann, directory, "ivf.faiss")
    out["ivf_matrix_bytes"] = size * dim * 2  # the float16 by-id copy an IVF version writes
    rows = []
    for nprobe in NPROBES:
        prepare(ann, nprobe)
        row: dict[str, Any] = {"nprobe": nprobe}
        for name, queries in query_sets.items():
            found, times = timed_search(ann, queries)
            row[f"{name}_recall"] = round(recall(found, truth[name]), 4)
            row[f"{name}_p50_ms"] = round(float(np.percentile(times, 50)), 3)
            row[f"{name}_p99_ms"] = round(float(np.percentile(times, 99)), 3)
        rows.append(row)
        print(size, row, flush=True)
    out["ivf_nprobe"] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", help="comma-separated, e.g. 100k,300k,1m")
    parser.add_argument("--out", type=Path, default=Path("bench/scale_ann.json"))
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for size in (parse_size(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            result = measure(size, Path(tmp))
        result["load_avg"] = [round(x, 1) for x in os.getloadavg()]
        print(json.dumps(result), flush=True)
        results[str(size)] = result
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
