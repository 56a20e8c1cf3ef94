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


def argv_of(args: argparse.Namespace) -> tuple[str, ...]:
    """The options that reproduce this run, as typed after `pgrec bench`."""
    out: list[str] = []
    if args.quick:
        out.append("--quick")
    if args.sizes:
        out += ["--sizes", args.sizes]
    if Path(args.out).resolve() != DEFAULT_OUT:
        out += ["--out", str(args.out)]
    if args.seed:
        out += ["--seed", str(args.seed)]
    if args.fake_embedder:
        out.append("--fake-embedder")
    if args.keep_databases:
        out.append("--keep-databases")
    return tuple(out)
