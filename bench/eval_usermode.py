"""The user mode's fallback weights chosen on the validation users, never on the test users.

rec.ranker's fallback scores rec.user_candidates' features with fixed
coefficients (rec._defaults()'s fallback_coef), and rec.for_user_explained interleaves the
user's interests unless pgrec.interleave is 0. Here every validation user's candidates
(their second-to-last liked item held out, the interaction jobs rebuilt without it) are
fetched once, and each point of a small grid (coefficients, interleaving or not) ranks them
the way rec.for_user_explained does. The grid's best HR@10 among the points whose catalog
coverage@10 reaches COVERAGE_GOAL is the choice; `pgrec eval` reports it beside what the SQL
serves, and the test users' figures of what it serves.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from bench import eval_metrics as m
from bench.eval_baselines import ItemKnn
from bench.eval_protocol import Case
from bench.eval_systems import DEPTH, Candidates

FEATURES = ("cooc", "cooc_max", "cooc_hits", "sem", "sem_profile", "pop", "cat_overlap",
            "year_gap", "fresh")  # fmt: skip
COVERAGE_GOAL = 0.15
# Relative to cooc (1): the interest similarity, popularity, and the other two co-occurrence
# features (how many recent items list the candidate, the best single list weight). The
# popularity weight stays positive: a user without history gets no other feature, and is
# served the popular items by it (the `cooc` feature already discounts popularity).
SEM_GRID = (0.0, 0.01, 0.03, 0.1, 0.3)
POP_GRID = (0.01, 0.003, 0.001, 0.0003)
HITS_GRID = (0.0, 0.01, 0.03)
MAX_GRID = (0.0, 0.3, 1.0)
INTERLEAVE_GRID = (False, True)
KNOBS = ("sem", "pop", "hits", "max", "interleave")


def coefficients(sem: float, pop: float, hits: float = 0.0, most: float = 0.0) -> tuple[float, ...]:
    """A fallback vector of the grid: cooc 1, the interest similarity `sem`, popularity `pop`,
    cooc_hits `hits`, cooc_max `most`."""
    weights = dict.fromkeys(FEATURES, 0.0) | {
        "cooc": 1.0, "sem": sem, "pop": pop, "cooc_hits": hits, "cooc_max": most,
    }  # fmt: skip
    return tuple(weights[f] for f in FEATURES)


def choose(table: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The grid's row with the best HR@10 (then nDCG@10) among those whose coverage@10
    reaches COVERAGE_GOAL (among all when none does), interleaved or not."""
    reaching = [r for r in table if r["coverage"] >= COVERAGE_GOAL] or list(table)
    return max(reaching, key=lambda r: (r["hr"], r["ndcg"]))


class Pool:
    """One user's candidates as arrays: ids, features, interests (-1: none)."""

    def __init__(self, rows: Sequence[Any], shares: dict[int, float]) -> None:
        self.ids = np.array([int(r.item_id) for r in rows], dtype=np.int64)
        self.feats = np.array([r.features for r in rows], dtype=np.float64).reshape(
            len(rows), len(FEATURES)
        )
        self.interests = [r.interest for r in rows]
        self.shares = shares


def ranked(pool: Pool, coef: np.ndarray, interleave: bool, k: int = m.K) -> list[int]:
    """The first k items as rec.for_user_explained orders them under `coef`: by score (then
    id), or interleaved: an item of an interest with share s and rank r among that
    interest's items at place r / s, any other item at its overall rank."""
    if not len(pool.ids):
        return []
    raw = pool.feats @ coef
    order = np.lexsort((pool.ids, -raw))
    if not interleave:
        return [int(i) for i in pool.ids[order[:k]]]
    place = np.empty(len(order))
    place[order] = np.arange(1, len(order) + 1)
    interests = np.array([-1 if i is None else int(i) for i in pool.interests])
    for interest, share in pool.shares.items():
        mine = order[interests[order] == interest]
        place[mine] = np.arange(1, len(mine) + 1) / share
    return [int(i) for i in pool.ids[np.lexsort((pool.ids, -raw, place))[:k]]]


def tune_fallback(conn: Connection, cases: Sequence[Case], catalog_size: int) -> dict[str, Any]:
    """The grid on the validation cases; see the module docstring."""
    fetch = Candidates(conn, per_source=min(1000, 3 * DEPTH))
    pools = [Pool(list(fetch.of(case)), dict(fetch.shares)) for case in cases]
    table = grid(pools, [c.held_out for c in cases], catalog_size)
    # Interleaving (each interest keeps places by its share) is a knob like the others: on
    # the validation users score order finds the next liked item more often, and a user's
    # other tastes still come in through the interests' candidates and `sem`.
    best = choose(table)
    knn = ItemKnn.from_db(conn)
    conn.rollback()
    knn_lists = [[h.item_id for h in knn.recommend(c, m.K)] for c in cases]
    return {
        "chosen": {k: best[k] for k in KNOBS},
        "coefficients": dict(zip(FEATURES, _coef(best), strict=True)),
        "validation": {k: best[k] for k in ("hr", "ndcg", "coverage")},
        "objective": f"HR@10 (then nDCG@10) on the validation users, among the rankings"
        f" (interleaved or not) whose coverage@10 is >= {COVERAGE_GOAL} (all of them when"
        " none is)",
        "validation_users": len(cases),
        "item_knn": {
            "hr": m.mean(
                m.hit_rate(lst, c.held_out) for lst, c in zip(knn_lists, cases, strict=True)
            ),
            "ndcg": m.mean(
                m.ndcg_single(lst, c.held_out) for lst, c in zip(knn_lists, cases, strict=True)
            ),
            "coverage": m.coverage(knn_lists, catalog_size) if knn_lists else 0.0,
        },
        "served": served_fallback(conn),
        "grid": table,
    }


def _coef(row: dict[str, Any]) -> tuple[float, ...]:
    return coefficients(row["sem"], row["pop"], row["hits"], row["max"])


def grid(pools: Sequence[Pool], held: Sequence[int], catalog_size: int) -> list[dict[str, Any]]:
    """HR@10, nDCG@10 and coverage@10 of every grid point over the pools."""
    table: list[dict[str, Any]] = []
    for values in itertools.product(SEM_GRID, POP_GRID, HITS_GRID, MAX_GRID, INTERLEAVE_GRID):
        knobs = dict(zip(KNOBS, values, strict=True))
        coef = np.array(_coef(knobs))
        lists = [ranked(pool, coef, bool(knobs["interleave"])) for pool in pools]
        table.append({
            **knobs,
            "hr": m.mean(m.hit_rate(lst, h) for lst, h in zip(lists, held, strict=True)) or 0.0,
            "ndcg": m.mean(m.ndcg_single(lst, h) for lst, h in zip(lists, held, strict=True))
            or 0.0,
            "coverage": m.coverage(lists, catalog_size) if lists else 0.0,
        })  # fmt: skip
    return table


def served_fallback(conn: Connection) -> dict[str, Any]:
    """The fallback weights rec.ranker() serves, and whether it interleaves by default."""
    conn.execute(text("SELECT set_config('pgrec.ranker', 'fallback', true)"))
    coef = conn.execute(text("SELECT coef FROM rec.ranker()")).scalar_one()
    interleave = conn.execute(text("SELECT rec._setting('interleave', 1) > 0")).scalar_one()
    conn.rollback()
    return {
        "coefficients": dict(zip(FEATURES, (float(c) for c in coef), strict=True)),
        "interleave": bool(interleave),
    }


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report's sentence on the fallback weights: chosen where, what, and what is served."""
    tuned = report.get("validation", {}).get("user_mode")
    if not tuned:
        return []
    c, v, knn = tuned["chosen"], tuned["validation"], tuned["item_knn"]
    served = tuned["served"]
    same = served.get("coefficients") == tuned["coefficients"]
    served_line = (
        "serves exactly these"
        if same and served.get("interleave") == c["interleave"]
        else f"serves OTHER weights: {served}"
    )
    return [
        f"User-mode fallback weights chosen on {tuned['validation_users']} validation users"
        f" (second-to-last liked item; co-occurrence and EASE rebuilt without it) by"
        f" {tuned['objective']}: cooc 1, sem {c['sem']:g}, pop {c['pop']:g}, cooc_hits"
        f" {c.get('hits', 0):g}, cooc_max {c.get('max', 0):g},"
        f" {'interleaved' if c['interleave'] else 'score order'}; validation"
        f" HR@10 {v['hr']:.3f}, nDCG@10 {v['ndcg']:.3f}, coverage {v['coverage']:.3f}"
        f" (item-kNN there: HR@10 {knn['hr']:.3f}, nDCG@10 {knn['ndcg']:.3f}); rec.ranker's"
        f" fallback {served_line}.  "
    ]
