"""`pgrec bench`: latency, recall under filters, throughput and scale (bench/run.py)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "bench"


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    p = sub.add_parser(
        "bench",
        help="benchmarks: API latency, recall under filters, baselines, scale curves",
        description=(
            "Builds replicated Netflix + TMDB catalogs in databases of their own "
            "(pgrec_bench_<size>), serves each with `pgrec serve` on 127.0.0.1 and loads it "
            "from a separate process; baselines (FAISS, plain pgvector, exact scan, "
            "rec.semantic) run in the same run. Writes OUT/REPORT.md, OUT/report.json and "
            "OUT/plots/*.png. Without --sizes: --quick = 10k,40k; otherwise 10k,40k,200k."
        ),
    )
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
    p.set_defaults(func=_bench)


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


def _bench(args: argparse.Namespace) -> int:
    from bench import bench_markdown
    from bench.run import config_from_args, quiet_loggers, run
    from pgrec.cli import CommandError  # here: pgrec.cli imports this module

    if args.scale:
        return _scale(args)
    try:
        config = config_from_args(args, argv_of(args))
    except ValueError as err:
        raise CommandError(str(err)) from None
    quiet_loggers()
    data = run(config)
    print(bench_markdown.summary(data))
    print(f"wrote {config.out / 'REPORT.md'}, {config.out / 'report.json'} and the plots")
    print("$ " + shlex.join(["pgrec", "bench", *config.argv]))
    return 0


def _scale(args: argparse.Namespace) -> int:
    from bench.run import parse_sizes, quiet_loggers
    from bench.scale import ScaleConfig, run
    from pgrec.cli import CommandError  # here: pgrec.cli imports this module

    try:
        sizes = parse_sizes(args.scale)
    except ValueError as err:
        raise CommandError(str(err)) from None
    halfvec = parse_sizes(args.halfvec)[0] if args.halfvec else None
    if halfvec is not None and halfvec not in sizes:
        raise CommandError(f"--halfvec {args.halfvec} is not one of the --scale sizes")
    argv = ["--scale", args.scale] + (["--halfvec", args.halfvec] if args.halfvec else [])
    if Path(args.out).resolve() != DEFAULT_OUT:
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
