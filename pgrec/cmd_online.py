"""`pgrec impressions prune|stats`: the retention of recorded impressions and a quick look."""

from __future__ import annotations

import argparse
from typing import Any

from pgrec.args import command, command_group, number


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    isub = command_group(sub, "impressions", help="recorded impressions (what the API served)")
    prune = command(
        isub,
        "prune",
        _prune,
        help="delete impressions older than the retention",
        description="Deletes impressions served more than PGREC_IMPRESSION_RETENTION_DAYS "
        "(default 30) days ago; run it daily (cron, a systemd timer).",
    )
    prune.add_argument("--days", type=float, help="override the retention, in days")
    stats = command(isub, "stats", _stats, help="CTR and conversion per mode and variant")
    number(stats, "--hours", 24.0, "the window")


def _prune(args: argparse.Namespace) -> int:
    import datetime as dt

    from db.engine import get_engine
    from db.impressions import prune_impressions
    from db.settings import get_settings
    from pgrec.errors import CommandError

    days = get_settings().impression_retention_days if args.days is None else args.days
    if days <= 0:
        raise CommandError("--days must be > 0")
    with get_engine().begin() as conn:
        deleted = prune_impressions(conn=conn, older_than=dt.timedelta(days=days))
    print(f"deleted {deleted} impressions older than {days:g} days")
    return 0


def _stats(args: argparse.Namespace) -> int:
    import datetime as dt

    from db.engine import get_engine
    from db.impressions import served_coverage, variant_rates
    from pgrec.errors import CommandError

    if args.hours <= 0:
        raise CommandError("--hours must be > 0")
    window = dt.timedelta(hours=args.hours)
    with get_engine().connect() as conn:
        rates = variant_rates(conn=conn, window=window)
        served, catalog = served_coverage(conn=conn, window=window)
    print(f"{'mode':<10} {'variant':<16} {'impressions':>11} {'ctr':>7} {'conversion':>10}")
    for r in rates:
        print(
            f"{r.mode:<10} {r.variant:<16} {r.impressions:>11} {r.ctr:>7.3f} {r.conversion:>10.3f}"
        )
    print(f"served coverage: {served} of {catalog} items in the last {args.hours:g} h")
    return 0
