"""`pgrec neighbors|clusters|cooccurrence refresh`: tables derived from vectors or interactions."""

from __future__ import annotations

import argparse
from typing import Any

from pgrec.args import command, command_group, flag, number
from pgrec.errors import CommandError


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    nsub = command_group(sub, "neighbors", help="precomputed top-K neighbour lists")
    n = command(
        nsub,
        "refresh",
        _neighbors,
        help="bring item_neighbors up to date (incremental unless --full)",
        description="Exact top-K cosine neighbours of every item under the active model. "
        "By default only the lists that can have changed since the last run are recomputed.",
    )
    number(n, "--k", 50, "neighbours per item")
    flag(n, "--full", "recompute every list")
    n.add_argument("--model", help="a registered model other than the active one")
    n.add_argument("--threads", type=int, help="FAISS threads (default: the usable CPUs)")

    csub = command_group(sub, "clusters", help="the catalog's themes (MiniBatchKMeans)")
    c = command(
        csub,
        "refresh",
        _clusters,
        help="recluster the vectors and relabel the clusters",
        description="MiniBatchKMeans (seeded) on the active model's vectors; each cluster is "
        "labelled with the TF-IDF terms that set its members apart.",
    )
    c.add_argument(
        "--n-clusters", type=int, help="number of clusters (default sqrt(items/2), at most 64)"
    )
    c.add_argument("--model", help="a registered model other than the active one")
    number(c, "--seed", 0, "random seed")

    osub = command_group(sub, "cooccurrence", help="'people who liked X also liked Y' lists")
    o = command(
        osub,
        "refresh",
        _cooccurrence,
        help="rebuild item_cooccurrence and item_stats from the interactions",
        description="Top-K co-occurring items of every item (shrunk cosine of damped, "
        "event-weighted preferences) and per-item interaction stats. Does nothing when the "
        "interactions and options are those of the last run, unless --force. "
        "See docs/cooccurrence.md.",
    )
    number(o, "--k", 50, "neighbours per item")
    number(o, "--shrinkage", 5.0, "score = cosine x users / (users + shrinkage)")
    number(o, "--min-users", 1, "keep pairs liked by at least this many users")
    flag(o, "--force", "rebuild even if nothing changed")


def _neighbors(args: argparse.Namespace) -> int:
    # Imported here: faiss loads only for this command, and pgrec.cli imports this module.
    from jobs.neighbors import MAX_K, refresh_neighbors

    if not 1 <= args.k <= MAX_K:
        raise CommandError(f"--k must be between 1 and {MAX_K}")
    if args.threads is not None and args.threads < 1:
        raise CommandError("--threads must be at least 1")
    try:
        run = refresh_neighbors(model=args.model, k=args.k, full=args.full, threads=args.threads)
    except LookupError as err:
        raise CommandError(str(err)) from err
    mode = "full" if run.full else "incremental"
    print(
        f"neighbors ({run.model}, {mode}): {run.items} items, {run.changed} changed, "
        f"{run.recomputed} lists recomputed, {run.rows} rows written in {run.seconds:.1f}s"
    )
    return 0


def _clusters(args: argparse.Namespace) -> int:
    # Imported here: scikit-learn loads only for this command.
    from jobs.clusters import refresh_clusters

    if args.n_clusters is not None and args.n_clusters < 1:
        raise CommandError("--n-clusters must be at least 1")
    try:
        run = refresh_clusters(model=args.model, n_clusters=args.n_clusters, seed=args.seed)
    except LookupError as err:
        raise CommandError(str(err)) from err
    print(f"clusters ({run.model}): {run.items} items, {run.clusters} clusters, {run.seconds:.1f}s")
    return 0


def _cooccurrence(args: argparse.Namespace) -> int:
    from jobs.cooccurrence import Params, refresh_cooccurrence

    params = Params(k=args.k, shrinkage=args.shrinkage, min_users=args.min_users)
    try:
        params.check()
    except ValueError as err:
        raise CommandError(str(err)) from err
    run = refresh_cooccurrence(
        k=params.k, shrinkage=params.shrinkage, min_users=params.min_users, force=args.force
    )
    if run.stats is None:
        print(f"cooccurrence: unchanged since the last run ({run.seconds:.1f}s; --force rebuilds)")
        return 0
    s = run.stats
    print(
        f"cooccurrence: {s.users} users, {s.items} items, {s.pairs} pairs, {s.lists} lists, "
        f"{s.changed} changed ({s.rows_written} rows written), "
        f"{s.stats_written} item_stats rows written in {run.seconds:.1f}s"
    )
    return 0
