"""`pgrec bench`: latency, recall under filters, throughput and scale (bench/run.py)."""

from __future__ import annotations

import argparse
from typing import Any

from bench.bench_args import DEFAULT_OUT, DESCRIPTION, add_arguments, argv_of
from pgrec.errors import CommandError

__all__ = ["DEFAULT_OUT", "argv_of", "register"]


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    p = sub.add_parser(
        "bench",
        help="benchmarks: API latency, recall under filters, baselines, scale curves",
        description=DESCRIPTION,
    )
    add_arguments(p)
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from bench.run import run_command

    try:
        return run_command(args)
    except ValueError as err:
        raise CommandError(str(err)) from None
