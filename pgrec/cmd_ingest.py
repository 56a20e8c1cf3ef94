"""`pgrec ingest PATH --format ...`: load a catalog or ratings file (see docs/ingest.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from db.engine import get_engine
from db.ingest import FORMATS, IngestError, ingest_file
from db.ingest.pipeline import Progress
from pgrec.args import command, flag
from pgrec.errors import CommandError


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    p = command(
        sub,
        "ingest",
        _ingest,
        help="load a catalog or ratings file (idempotent upsert by external_id)",
        description=(
            "Load PATH in one transaction. A file with any bad row is rejected whole "
            "(nothing written, exit code 1) unless --skip-invalid is given."
        ),
    )
    p.add_argument("path", type=Path, metavar="PATH")
    p.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
    flag(p, "--skip-invalid", "write the good rows, report the bad ones")
    p.add_argument(
        "--links",
        type=Path,
        metavar="PATH",
        help="MovieLens links.csv (default: beside ratings.csv)",
    )


@contextmanager
def _progress(path: Path) -> Iterator[Progress | None]:
    # A bar only for a person watching; logs and pipes get the summary line alone.
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(desc=path.name, unit=" rows", file=sys.stderr, leave=False) as bar:
        yield bar.update


def _ingest(args: argparse.Namespace) -> int:

    try:
        with _progress(args.path) as progress, get_engine().connect() as conn:
            summary = ingest_file(
                conn=conn,
                path=args.path,
                fmt=args.fmt,
                skip_invalid=args.skip_invalid,
                links=args.links,
                progress=progress,
            )
    except IngestError as err:
        raise CommandError(f"{err}; nothing written") from None
    except DBAPIError as err:
        hint = " (has the schema been created? run `pgrec migrate`)" if _undefined(err) else ""
        raise CommandError(f"database error{hint}; nothing written: {err.orig}") from None
    for error in summary.errors:
        print(error, file=sys.stderr)
    print(summary.line())
    if not summary.written:
        print(
            f"pgrec: {args.path}: rejected, nothing written: {summary.rejected} bad row(s) "
            "(fix them, or use --skip-invalid to load the good rows)",
            file=sys.stderr,
        )
        return 1
    return 0


def _undefined(err: DBAPIError) -> bool:
    return getattr(err.orig, "sqlstate", None) == "42P01"  # undefined_table
