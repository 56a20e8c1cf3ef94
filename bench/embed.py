"""Embedding throughput: a plain `model.encode(texts)` against pgrec's pipeline on the same
Netflix texts in the same run, and what re-embedding costs after 1% of the items change.

    python -m bench.embed [--n 2000] [--rounds 3] [--threads N] [--batch-size 256] [--sweep]

Texts come from `pgrec_embed_text` (the SQL function that defines what is embedded) over the
first N rows of data/netflix_sample.csv, loaded into a scratch database on the configured
server (DATABASE_URL, else the embedded one) that is dropped afterwards. Plain and pipeline
passes alternate, so a busy machine slows both alike; the medians are reported.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from sqlalchemy import Engine, text

from bench.eval_report import cpu_model

ROOT = Path(__file__).resolve().parent.parent
NETFLIX = ROOT / "data" / "netflix_sample.csv"


@dataclass(frozen=True)
class Result:
    plain: list[float]  # wall-clock items/s per round
    pipeline: list[float]
    plain_cpu: list[float]  # items per CPU-second of this process: robust to a busy machine
    pipeline_cpu: list[float]
    full_seconds: float
    changed: int
    incremental_seconds: float

    @property
    def ratio(self) -> float:
        return statistics.median(self.pipeline) / statistics.median(self.plain)

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.pipeline_cpu) / statistics.median(self.plain_cpu)

    @property
    def incremental_share(self) -> float:
        return self.incremental_seconds / self.full_seconds


def netflix_rows(n: int, path: Path = NETFLIX) -> list[dict[str, object]]:
    """The first n catalog rows as item fields: title, categories (listed_in), description."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return [
            {
                "e": "netflix:" + r["show_id"],
                "t": r["title"].strip(),
                "c": [c.strip() for c in r["listed_in"].split(",") if c.strip()],
                "d": r["description"].strip(),
            }
            for _, r in zip(range(n), reader, strict=False)
        ]


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _scratch_database(server_url: str) -> str:
    from db import migrate

    name = f"pgrec_bench_embed_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {name}")
    url = _with_database(server_url, name)
    migrate.upgrade(url)
    return url


def _drop_database(server_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _texts(engine: Engine, n: int) -> list[str]:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO items (external_id, title, categories, description) "
                "VALUES (:e, :t, :c, :d)"
            ),
            netflix_rows(n),
        )
        return list(
            conn.execute(
                text(
                    "SELECT pgrec_embed_text(title, categories, tags, description) "
                    "FROM items ORDER BY id"
                )
            ).scalars()
        )


def _rates(fn: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str]) -> tuple[float, float]:
    """Items per wall-clock second and per CPU-second of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(texts) / wall, len(texts) / max(cpu, 1e-9)


SWEEP = ((2048, 32), (4096, 64), (8192, 128), (16384, 256))


def sweep(embedder: Any, texts: Sequence[str]) -> None:
    """Items/s per (token budget, max batch): how DEFAULT_TOKEN_BUDGET was chosen."""
    chosen = (embedder.token_budget, embedder.max_batch)
    for budget, max_batch in SWEEP:
        embedder.token_budget, embedder.max_batch = budget, max_batch
        rate, _ = _rates(embedder.encode, texts)
        print(f"  sweep: token budget {budget:>5}, max batch {max_batch:>3}: {rate:.1f} items/s")
    embedder.token_budget, embedder.max_batch = chosen


def measure(
    engine: Engine, texts: list[str], *, rounds: int, batch_size: int, do_sweep: bool = False
) -> Result:
    from jobs.embedder import SentenceTransformerEmbedder, load_embedder
    from jobs.worker import Embedders, run_embed

    embedder = load_embedder()
    assert isinstance(embedder, SentenceTransformerEmbedder)
    model = embedder.model

    def plain(t: Sequence[str]) -> np.ndarray:
        return np.asarray(model.encode(list(t)))

    # Warm both paths (first calls allocate and pick kernels), then alternate.
    plain(texts[:64])
    embedder.encode(texts[:64])
    rates: dict[str, list[float]] = {"plain": [], "pipe": [], "plain_cpu": [], "pipe_cpu": []}
    for i in range(rounds):
        for key, fn in (("plain", plain), ("pipe", embedder.encode)):
            wall, cpu = _rates(fn, texts)
            rates[key].append(wall)
            rates[key + "_cpu"].append(cpu)
        print(
            f"  round {i + 1}: plain {rates['plain'][-1]:.1f} items/s, "
            f"pipeline {rates['pipe'][-1]:.1f} items/s "
            f"(per CPU-second: {rates['plain_cpu'][-1]:.1f} vs {rates['pipe_cpu'][-1]:.1f})",
            flush=True,
        )

    if do_sweep:
        sweep(embedder, texts)

    # The whole job through the database: a full run, then a run after a 1% change.
    embedders = Embedders(lambda path, name: embedder)
    t0 = time.perf_counter()
    full = run_embed(engine, embedders=embedders, batch_size=batch_size)
    full_seconds = time.perf_counter() - t0
    assert full.written == len(texts), full
    changed = max(1, len(texts) // 100)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE items SET description = description || ' Now restored in 4K.' "
                "WHERE id IN (SELECT id FROM items ORDER BY md5(external_id) LIMIT :n)"
            ),
            {"n": changed},
        )
    t0 = time.perf_counter()
    again = run_embed(engine, embedders=embedders, batch_size=batch_size)
    incremental_seconds = time.perf_counter() - t0
    assert again.written == changed, again
    return Result(
        rates["plain"],
        rates["pipe"],
        rates["plain_cpu"],
        rates["pipe_cpu"],
        full_seconds,
        changed,
        incremental_seconds,
    )


def machine() -> str:
    import torch

    cpu = cpu_model("?")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}, "
        f"load average {load}"
    )


def report(result: Result, *, n: int, rounds: int, command: str, machine_line: str) -> str:
    plain = statistics.median(result.plain)
    pipe = statistics.median(result.pipeline)
    return "\n".join(
        [
            f"command: {command}",
            f"machine: {machine_line}",
            f"texts: {n} Netflix items via pgrec_embed_text, {rounds} alternating rounds",
            f"plain model.encode(texts): {plain:.1f} items/s (median)",
            f"pgrec pipeline:            {pipe:.1f} items/s (median)",
            f"ratio pipeline/plain:      {result.ratio:.2f}x (goal >= 1.5x); "
            f"per CPU-second {result.cpu_ratio:.2f}x",
            f"full run through the database:  {result.full_seconds:.2f} s for {n} items",
            f"after {result.changed} items changed: {result.incremental_seconds:.2f} s "
            f"= {100 * result.incremental_share:.2f}% of the full run (goal <= 2%)",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.embed", description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="texts (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (3)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--batch-size", type=int, default=256, help="items per transaction")
    parser.add_argument("--sweep", action="store_true", help="also try other batch shapes")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    warnings.filterwarnings("ignore", module="platformdirs")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from db.engine import database_url, make_engine

    server = database_url()
    url = _scratch_database(server)
    engine = make_engine(url)
    try:
        texts = _texts(engine, args.n)
        print(f"embedding {len(texts)} texts ...", flush=True)
        result = measure(
            engine, texts, rounds=args.rounds, batch_size=args.batch_size, do_sweep=args.sweep
        )
    finally:
        engine.dispose()
        _drop_database(server, url)
    command = "python -m bench.embed " + " ".join(sys.argv[1:] if argv is None else argv)
    print(
        report(
            result,
            n=len(texts),
            rounds=args.rounds,
            command=command.strip(),
            machine_line=machine(),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
