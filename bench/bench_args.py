"""The options of a benchmark run, shared by `pgrec bench` and `python -m bench.run`."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent
DESCRIPTION = (
    "Builds replicated Netflix + TMDB catalogs in databases of their own "
    "(pgrec_bench_<size>), serves each with `pgrec serve` on 127.0.0.1 and loads it "
    "from a separate process; baselines (FAISS, plain pgvector, exact scan, "
    "rec.semantic) run in the same run. Writes OUT/REPORT.md, OUT/report.json and "
    "OUT/plots/*.png. Without --sizes: --quick = 10k,40k; otherwise 10k,40k,200k."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the benchmark's options to `p`."""
    p.add_argument("--quick", action="store_true", help="10k + 40k, short load passes (<10 min)")
    p.add_argument("--sizes", metavar="LIST", help="catalog sizes, e.g. 10k,40k,200k,1m")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR")
    p.add_argument("--seed", type=int, default=0, help="seed of replicas, noise and queries")
    p.add_argument("--fake-embedder", action="store_true", help="hashed words (plumbing only)")
    p.add_argument("--keep-databases", action="store_true", help="keep pgrec_bench_<size>")
    p.add_argument(
        "--scale",
        metavar="LIST",
        help="synthetic catalogs of these sizes instead (e.g. 40k,100k,300k,1m; no model): "
        "ingest, HNSW build, memory and every mode's latency; section in REPORT.md",
    )
    p.add_argument(
        "--halfvec",
        metavar="SIZE",
        help="with --scale: compare halfvec with vector at this size (one of the --scale sizes)",
    )


def argv_of(args: argparse.Namespace) -> tuple[str, ...]:
    """The options that reproduce this run, as typed after `pgrec bench`."""
    return tuple(
        given(
            ("--quick", args.quick),
            ("--sizes", args.sizes or None),
            ("--out", None if Path(args.out).resolve() == DEFAULT_OUT else args.out),
            ("--seed", args.seed or None),
            ("--fake-embedder", args.fake_embedder),
            ("--keep-databases", args.keep_databases),
        )
    )


def given(*options: tuple[str, object]) -> list[str]:
    """Options as typed, in order: `--flag` for True, `--name VALUE` for any other value;
    None and False (not given) are left out."""
    out: list[str] = []
    for name, value in options:
        if value is True:
            out.append(name)
        elif value is not None and value is not False:
            out += [name, str(value)]
    return out
