"""`pgrec neighbors|clusters|cooccurrence refresh`: tables derived from vectors or interactions."""

from __future__ import annotations

import argparse
from typing import Any

from pgrec.args import command_group
from pgrec.errors import CommandError


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    nsub = command_group(sub, "neighbors", help="precomputed top-K neighbour lists")
    n = nsub.add_parser(
        "refresh",
        help="bring item_neighbors up to date (incremental unless --full)",
        description="Exact top-K cosine neighbours of every item under the active model. "
        "By default only the lists that can have changed since the last run are recomputed.",
    )
    n.add_argument("--k", type=int, default=50, help="neighbours per item (default 50)")
    n.add_argument("--full", action="store_true", help="recompute every list")
    n.add_argument("--model", help="a registered model other than the active one")
    n.add_argument("--threads", type=int, help="FAISS threads (default: the usable CPUs)")
    n.set_defaults(func=_neighbors)

    csub = command_group(sub, "clusters", help="the catalog's themes (MiniBatchKMeans)")
    c = csub.add_parser(
        "refresh",
        help="recluster the vectors and relabel the clusters",
        description="MiniBatchKMeans (seeded) on the active model's vectors; each cluster is "
        "labelled with the TF-IDF terms that set its members apart.",
    )
    c.add_argument(
        "--n-clusters", type=int, help="number of clusters (default sqrt(items/2), at most 64)"
    )
    c.add_argument("--model", help="a registered model other than the active one")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.set_defaults(func=_clusters)

    osub = command_group(sub, "cooccurrence", help="'people who liked X also liked Y' lists")
    o = osub.add_parser(
        "refresh",
        help="rebuild item_cooccurrence and item_stats from the interactions",
        description="Top-K co-occurring items of every item (shrunk cosine of damped, "
        "event-weighted preferences) and per-item interaction stats. Does nothing when the "
        "interactions and options are those of the last run, unless --force. "
        "See docs/cooccurrence.md.",
    )
    o.add_argument("--k", type=int, default=50, help="neighbours per item (default 50)")
    o.add_argument(
        "--shrinkage",
        type=float,
        default=5.0,
        help="score = cosine x users / (users + shrinkage) (default 5)",
    )
    o.add_argument(
        "--min-users",
        type=int,
        default=1,
        help="keep pairs liked by at least this many users (default 1)",
    )
    o.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    o.set_defaults(func=_cooccurrence)


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
