"""`pgrec bench`: latency, recall under filters, throughput and scale (bench/run.py)."""

from __future__ import annotations

import argparse
from typing import Any

from bench.bench_args import DEFAULT_OUT, DESCRIPTION, add_arguments, argv_of
from pgrec.args import command
from pgrec.errors import CommandError

__all__ = ["DEFAULT_OUT", "argv_of", "register"]


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    p = command(
        sub,
        "bench",
        _bench,
        help="benchmarks: API latency, recall under filters, baselines, scale curves",
        description=DESCRIPTION,
    )
    add_arguments(p)


def _bench(args: argparse.Namespace) -> int:
    from bench.run import run_command
    from bench.scale import run_scale_command

    try:
        return run_scale_command(args) if args.scale else run_command(args)
    except ValueError as err:
        raise CommandError(str(err)) from None
