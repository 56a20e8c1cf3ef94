"""`pgrec ranker train|list|activate|deactivate`: the scoring stage of the hybrid user mode."""

from __future__ import annotations

import argparse
from typing import Any

from pgrec.args import command, command_group, flag, number
from pgrec.errors import CommandError


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    rsub = command_group(sub, "ranker", help="ranking models of the hybrid user mode")
    t = command(
        rsub,
        "train",
        _train,
        help="train, validate and store a ranking model, and make it active",
        description="Holds out each user's latest likes, rebuilds co-occurrence on the rest "
        "and fits a logistic regression on rec.user_candidates' features, all in a "
        "transaction that is rolled back. Does nothing when the interactions and options "
        "are those of the last run, unless --force. See docs/ranker.md.",
    )
    number(t, "--seed", 0, "random seed")
    t.add_argument("--users", type=int, help="train on at most N users (default: all)")
    number(t, "--holdout", 0.2, "share of each user's latest likes held out as labels")
    number(t, "--per-source", 100, "candidates per source")
    flag(t, "--no-activate", "store it without serving it")
    flag(
        t,
        "--always-activate",
        "serve it even if its validation nDCG@10 is below the fallback weights'",
    )
    flag(t, "--force", "train even if nothing changed")
    command(rsub, "list", _list, help="stored versions with their validation metrics")
    act = command(rsub, "activate", _activate, help="serve a stored version (also to roll back)")
    act.add_argument("version")
    command(rsub, "deactivate", _deactivate, help="serve the fallback weights again")


def _metric(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


def _train(args: argparse.Namespace) -> int:
    # Imported here: scikit-learn loads only for this command.
    from db.engine import database_url
    from jobs.ranker import train_ranker

    try:
        run = train_ranker(
            database_url(),
            seed=args.seed,
            users=args.users,
            holdout=args.holdout,
            per_source=args.per_source,
            activate=not args.no_activate,
            force=args.force,
            always_activate=args.always_activate,
        )
    except ValueError as err:
        raise CommandError(str(err)) from err
    if run.unchanged:
        print(f"ranker: unchanged since the last run ({run.seconds:.1f}s; --force retrains)")
        return 0
    t, m = run.trained_on, run.metrics
    stored = "stored" if run.created else "already stored"
    print(
        f"ranker: {run.version} ({stored}{', active' if run.active else ''}) trained on "
        f"{t['users']} users, {t['candidates']} candidates, {t['positives']} positives "
        f"(candidate recall {t['candidate_recall']:.3f}) in {run.seconds:.1f}s"
    )
    if not args.no_activate and not run.active:
        print("not activated: its validation nDCG@10 is below the fallback weights' (see below)")
    k = m["k"]
    print(f"validation ({m['validation_users']} users)  {'AUC':>6} {f'HR@{k}':>6} {f'nDCG@{k}':>7}")
    for name in ("model", "fallback", "popularity"):
        r = m[name]
        print(
            f"  {name:<20} {_metric(r['auc']):>6} {_metric(r[f'hr@{k}']):>6} "
            f"{_metric(r[f'ndcg@{k}']):>7}"
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    from db.engine import get_engine
    from jobs.ranker import list_rankers

    rows = list_rankers(get_engine())
    print(
        f"{'version':<16} {'active':>6}  {'created':<19} {'seed':>5} {'users':>6} "
        f"{'AUC':>6} {'HR@10':>6} {'fallback HR@10':>14}"
    )
    for r in rows:
        m = r.metrics
        print(
            f"{r.version:<16} {'yes' if r.active else '':>6}  "
            f"{r.created_at.strftime('%Y-%m-%d %H:%M:%S'):<19} {r.seed:>5} "
            f"{r.trained_on.get('users', '-'):>6} {_metric(m.get('model', {}).get('auc')):>6} "
            f"{_metric(m.get('model', {}).get('hr@10')):>6} "
            f"{_metric(m.get('fallback', {}).get('hr@10')):>14}"
        )
    if not any(r.active for r in rows):
        print("no model active: rec.for_user scores with the fallback weights")
    return 0


def _activate(args: argparse.Namespace) -> int:
    from db.engine import get_engine
    from jobs.ranker import activate_ranker

    try:
        activate_ranker(get_engine(), version=args.version)
    except (LookupError, ValueError) as err:
        raise CommandError(str(err)) from err
    print(f"active ranking model: {args.version}")
    return 0


def _deactivate(args: argparse.Namespace) -> int:
    from db.engine import get_engine
    from jobs.ranker import deactivate_ranker

    was = deactivate_ranker(get_engine())
    print(
        f"deactivated {was}: rec.for_user scores with the fallback weights"
        if was
        else "no model was active: rec.for_user scores with the fallback weights"
    )
    return 0
