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
from dataclasses import dataclass, field
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
    rates: dict[str, list[float]]  # wall-clock items/s per round, by pass (PASSES)
    cpu: dict[str, list[float]]  # items per CPU-second of this process: robust to a busy machine
    cosine: dict[str, dict[str, float]]  # by pass: cosine to the plain encode's vectors
    engines: dict[str, str]  # by pass: the engine that ran it
    full_seconds: float
    changed: int
    incremental_seconds: float
    queries: dict[str, dict[str, float]] = field(default_factory=dict)  # p50/p99 by engine
    probes: list[dict[str, Any]] = field(default_factory=list)  # fresh API-like processes

    @property
    def plain(self) -> list[float]:
        return self.rates["plain"]

    @property
    def pipeline(self) -> list[float]:
        return self.rates["pipeline"]

    def speedup(self, key: str) -> float:
        return statistics.median(self.rates[key]) / statistics.median(self.plain)

    @property
    def ratio(self) -> float:
        return self.speedup("pipeline")

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.cpu["pipeline"]) / statistics.median(self.cpu["plain"])

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


def _rates(
    fn: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str]
) -> tuple[float, float, np.ndarray]:
    """Items per wall-clock second and per CPU-second of this process, and the vectors."""
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = fn(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(texts) / wall, len(texts) / max(cpu, 1e-9), np.asarray(vectors)


SWEEP = ((512, 8), (1024, 16), (2048, 32), (4096, 64), (8192, 128))


def sweep(embedder: Any, texts: Sequence[str]) -> None:
    """Items/s per (token budget, max batch): how DEFAULT_TOKEN_BUDGET was chosen."""
    chosen = (embedder.token_budget, embedder.max_batch)
    for budget, max_batch in SWEEP:
        embedder.token_budget, embedder.max_batch = budget, max_batch
        rate, _, _ = _rates(embedder.encode, texts)
        print(f"  sweep: token budget {budget:>5}, max batch {max_batch:>3}: {rate:.1f} items/s")
    embedder.token_budget, embedder.max_batch = chosen


def measure(
    engine: Engine,
    texts: list[str],
    *,
    rounds: int,
    batch_size: int,
    do_sweep: bool = False,
    int8: bool = True,
    probes: bool = False,
) -> Result:
    from bench import embed_engines

    passes = embed_engines.engines_under_test(int8)
    model = passes["torch pipeline"].model
    # The bf16 engine makes torch single-threaded (two runs side by side), maybe before this
    # call (`pgrec bench` embeds its catalog first): fp32 torch gets the thread count of a
    # fresh process back before each of its passes.
    fp32_threads = embed_engines.default_torch_threads()

    def plain(t: Sequence[str]) -> np.ndarray:
        embed_engines.torch_threads(fp32_threads)
        return np.asarray(model.encode(list(t), batch_size=64))

    def torch_pipeline(t: Sequence[str]) -> np.ndarray:
        embed_engines.torch_threads(fp32_threads)
        return np.asarray(passes["torch pipeline"].encode(t))

    fns = {"plain": plain, **{k: e.encode for k, e in passes.items()}}
    fns["torch pipeline"] = torch_pipeline
    # Warm every path (first calls allocate and pick kernels), then alternate.
    for fn in fns.values():
        fn(texts[:64])
    # The whole job per item (claim, tokenise, infer, pool, normalise, write, commit) on
    # the same texts, timed like the other passes: what "re-embedding items/s" means.
    fns["job"] = lambda _: job_pass(engine, passes["pipeline"], batch_size)
    if "onnx" in passes:  # the batch engine is bf16: the ONNX fp32 job beside it
        fns["job onnx"] = lambda _: job_pass(engine, passes["onnx"], batch_size)
    rates: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    vectors: dict[str, np.ndarray] = {}
    for i in range(rounds):
        for key, fn in fns.items():
            wall, per_cpu, vectors[key] = _rates(fn, texts)
            rates[key].append(wall)
            cpu[key].append(per_cpu)
        print(
            f"  round {i + 1}: " + ", ".join(f"{k} {rates[k][-1]:.1f}" for k in fns) + " items/s",
            flush=True,
        )
    cosine = {k: embed_engines.cosine_stats(v, vectors["plain"]) for k, v in vectors.items()}
    titles = list(dict.fromkeys(t.split("\n", 1)[0] for t in texts))[:300]
    reference = (plain(titles), vectors["plain"])
    for key, fn in fns.items():
        queries_of = passes["pipeline"].encode if key.startswith("job") else fn
        cosine[key]["top10"] = embed_engines.top10_agreement(
            reference, (queries_of(titles), vectors[key])
        )
    engines = {"plain": "torch", **{k: getattr(e, "engine", "torch") for k, e in passes.items()}}
    engines["job"] = engines["pipeline"]
    engines["job onnx"] = engines.get("onnx", "")

    if do_sweep:
        sweep(passes["pipeline"], texts)
    embed_engines.torch_threads(fp32_threads)  # torch's query encode as the API runs it
    queries = {
        k: embed_engines.query_latency(e.encode, titles)
        for k, e in embed_engines.query_engines(passes).items()
    }
    full_seconds, changed, incremental_seconds = _embed_job(engine, passes["pipeline"], batch_size)
    embed_engines.torch_threads(fp32_threads)  # the report's machine line names torch's own
    return Result(
        rates,
        cpu,
        cosine,
        engines,
        full_seconds,
        changed,
        incremental_seconds,
        queries=queries,
        probes=embed_engines.probes() if probes else [],
    )


def job_pass(engine: Engine, embedder: Any, batch_size: int) -> np.ndarray:
    """Drop the stored vectors, run the embed job over every item, return what it stored,
    by item id (row i is texts[i]): the cosine then checks what was written. The delete and
    the read-back (one binary COPY) are timed with it, which only makes the job look slower."""
    from db.vectors import load_current_vectors
    from jobs.worker import Embedders, run_embed

    with engine.begin() as conn:
        conn.execute(text("DELETE FROM item_embeddings"))
    run_embed(engine, embedders=Embedders(lambda path, name: embedder), batch_size=batch_size)
    with engine.connect() as conn:
        model = str(conn.execute(text("SELECT name FROM embedding_models WHERE active")).scalar())
        return np.asarray(load_current_vectors(conn=conn, model=model).matrix)


def _embed_job(engine: Engine, embedder: Any, batch_size: int) -> tuple[float, int, float]:
    """The whole job through the database: a full run, then a run after a 1% change."""
    from jobs.worker import Embedders, run_embed

    embedders = Embedders(lambda path, name: embedder)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM item_embeddings"))  # the job passes filled it
    t0 = time.perf_counter()
    full = run_embed(engine, embedders=embedders, batch_size=batch_size)
    full_seconds = time.perf_counter() - t0
    with engine.connect() as conn:
        n = int(conn.execute(text("SELECT count(*) FROM items")).scalar_one())
    assert full.written == n, full
    changed = max(1, n // 100)
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
    return full_seconds, changed, incremental_seconds


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
    from bench.embed_engines import engine_lines

    plain = statistics.median(result.plain)
    lines = [
        f"command: {command}",
        f"machine: {machine_line}",
        f"texts: {n} Netflix items via pgrec_embed_text, {rounds} alternating rounds",
        f"{'pass':<16} {'engine':<10} {'items/s':>8} {'x plain':>8} {'cos mean':>10} "
        f"{'cos min':>9} {'top10':>6}",
    ]
    for key, rates in result.rates.items():
        cos = result.cosine[key]
        lines.append(
            f"{key:<16} {result.engines[key]:<10} {statistics.median(rates):>8.1f} "
            f"{statistics.median(rates) / plain:>7.2f}x {cos['mean']:>10.6f} {cos['min']:>9.6f} "
            f"{cos['top10']:>6.3f}"
        )
    lines += [
        f"ratio pipeline/plain:      {result.ratio:.2f}x (encode only); "
        f"per CPU-second {result.cpu_ratio:.2f}x",
        f"ratio job/plain:           {result.speedup('job'):.2f}x (goal >= 1.5x: the whole "
        "job per item, database write and commit included; CPU of this process only)",
        "(cos: to the plain encode's vectors; top10: share of plain's top 10 texts for each "
        "title as a query that the pass also returns)",
        *engine_lines(result.queries, result.probes),
        f"full run through the database:  {result.full_seconds:.2f} s for {n} items",
        f"after {result.changed} items changed: {result.incremental_seconds:.2f} s "
        f"= {100 * result.incremental_share:.2f}% of the full run (goal <= 2%)",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.embed", description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="texts (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (3)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--batch-size", type=int, default=256, help="items per transaction")
    parser.add_argument("--sweep", action="store_true", help="also try other batch shapes")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 version")
    parser.add_argument("--no-probes", action="store_true", help="skip cold start and PSS")
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
            engine,
            texts,
            rounds=args.rounds,
            batch_size=args.batch_size,
            do_sweep=args.sweep,
            int8=not args.no_int8,
            probes=not args.no_probes,
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
