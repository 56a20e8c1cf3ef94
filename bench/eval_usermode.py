"""The user mode's fallback weights chosen on the validation users, never on the test users.

rec.ranker's fallback scores rec.user_candidates' features with fixed
coefficients. Here every validation user's candidates (their second-to-last liked item held
out, the interaction jobs rebuilt without it) are fetched once, and each coefficient vector
of a small grid ranks them the way rec.for_user_explained does (score, then optionally each
interest's places by its share). The grid's best HR@10 among the vectors whose catalog
coverage@10 reaches COVERAGE_GOAL is the choice; `pgrec eval` reports it beside the weights
the SQL serves, and the test users' figures of the served weights.
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
# Relative to cooc (1): the interest similarity, a popularity penalty (or bonus).
SEM_GRID = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)
POP_GRID = (0.03, 0.001, 0.0, -0.003, -0.01, -0.03)
INTERLEAVE_GRID = (False, True)


def coefficients(sem: float, pop: float) -> tuple[float, ...]:
    """A fallback vector of the grid: cooc 1, the interest similarity `sem`, popularity `pop`."""
    weights = dict.fromkeys(FEATURES, 0.0) | {"cooc": 1.0, "sem": sem, "pop": pop}
    return tuple(weights[f] for f in FEATURES)


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
    """The first k items as rec.for_user_explained orders them under `coef`."""
    if not len(pool.ids):
        return []
    raw = pool.feats @ coef
    order = np.lexsort((pool.ids, -raw)).tolist()
    if not interleave:
        return [int(pool.ids[n]) for n in order[:k]]
    place: dict[int, float] = {}
    seen: dict[int, int] = {}
    for pos, n in enumerate(order, start=1):
        interest = pool.interests[n]
        if interest is not None and interest in pool.shares:
            seen[interest] = seen.get(interest, 0) + 1
            place[n] = seen[interest] / pool.shares[interest]
        else:
            place[n] = float(pos)
    order.sort(key=lambda n: (place[n], -raw[n], int(pool.ids[n])))
    return [int(pool.ids[n]) for n in order[:k]]


def tune_fallback(conn: Connection, cases: Sequence[Case], catalog_size: int) -> dict[str, Any]:
    """Grid over (sem, pop, interleave) on the validation cases; see the module docstring."""
    fetch = Candidates(conn, per_source=min(1000, 3 * DEPTH))
    pools = [Pool(list(fetch.of(case)), dict(fetch.shares)) for case in cases]
    held = [c.held_out for c in cases]
    table: list[dict[str, Any]] = []
    for sem, pop, inter in itertools.product(SEM_GRID, POP_GRID, INTERLEAVE_GRID):
        coef = np.array(coefficients(sem, pop))
        lists = [ranked(pool, coef, inter) for pool in pools]
        table.append({
            "sem": sem, "pop": pop, "interleave": inter,
            "hr": m.mean(m.hit_rate(lst, h) for lst, h in zip(lists, held, strict=True)) or 0.0,
            "ndcg": m.mean(m.ndcg_single(lst, h) for lst, h in zip(lists, held, strict=True))
            or 0.0,
            "coverage": m.coverage(lists, catalog_size) if lists else 0.0,
        })  # fmt: skip
    # Interleaving is the product's promise (each interest keeps its places: a user with two
    # tastes sees both), not a knob: the choice is among interleaved rankings; the grid
    # still shows what turning it off would do.
    kept = [r for r in table if r["interleave"]]
    reaching = [r for r in kept if r["coverage"] >= COVERAGE_GOAL] or kept
    best = max(reaching, key=lambda r: (r["hr"], r["ndcg"]))
    knn = ItemKnn.from_db(conn)
    conn.rollback()
    knn_lists = [[h.item_id for h in knn.recommend(c, m.K)] for c in cases]
    return {
        "chosen": {k: best[k] for k in ("sem", "pop", "interleave")},
        "coefficients": dict(zip(FEATURES, coefficients(best["sem"], best["pop"]), strict=True)),
        "validation": {k: best[k] for k in ("hr", "ndcg", "coverage")},
        "objective": f"HR@10 (then nDCG@10) on the validation users, among the interleaved"
        f" rankings whose coverage@10 is >= {COVERAGE_GOAL} (all of them when none is)",
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


def served_fallback(conn: Connection) -> dict[str, Any]:
    """The fallback weights rec.ranker() serves, and whether interleaving is on by default."""
    conn.execute(text("SELECT set_config('pgrec.ranker', 'fallback', true)"))
    coef = conn.execute(text("SELECT coef FROM rec.ranker()")).scalar_one()
    conn.rollback()
    return dict(zip(FEATURES, (float(c) for c in coef), strict=True))


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report's sentence on the fallback weights: chosen where, what, and what is served."""
    tuned = report.get("validation", {}).get("user_mode")
    if not tuned:
        return []
    c, v, knn = tuned["chosen"], tuned["validation"], tuned["item_knn"]
    served = (
        "serves exactly these"
        if tuned["served"] == tuned["coefficients"]
        else f"serves OTHER weights: {tuned['served']}"
    )
    return [
        f"User-mode fallback weights chosen on {tuned['validation_users']} validation users"
        f" (second-to-last liked item; co-occurrence and EASE rebuilt without it) by"
        f" {tuned['objective']}: cooc 1, sem {c['sem']:g}, pop {c['pop']:g}; validation"
        f" HR@10 {v['hr']:.3f}, nDCG@10 {v['ndcg']:.3f}, coverage {v['coverage']:.3f}"
        f" (item-kNN there: HR@10 {knn['hr']:.3f}, nDCG@10 {knn['ndcg']:.3f}); rec.ranker's"
        f" fallback {served}.  "
    ]
