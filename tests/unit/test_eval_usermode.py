"""The validation-side choice of the user mode's fallback weights, and the hybrid's ratio CI."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bench.eval_ci import ratio_ci95
from bench.eval_protocol import Event, split
from bench.eval_splits import validation_split
from bench.eval_usermode import COVERAGE_GOAL, FEATURES, Pool, choose, coefficients, ranked


def row(item: int, cooc: float, pop: float, interest: int | None) -> SimpleNamespace:
    features = [0.0] * len(FEATURES)
    features[FEATURES.index("cooc")], features[FEATURES.index("pop")] = cooc, pop
    return SimpleNamespace(item_id=item, features=features, interest=interest)


def test_ranked_orders_by_score_then_id_and_a_penalty_moves_popular_items_down() -> None:
    rows = [row(1, 0.5, 5.0, None), row(2, 0.4, 0.0, None), row(3, 0.5, 5.0, None)]
    assert ranked(Pool(rows, {}), np.array(coefficients(0.0, 0.0)), False) == [1, 3, 2]
    assert ranked(Pool(rows, {}), np.array(coefficients(0.0, -0.1)), False) == [2, 1, 3]


def test_interleaving_gives_each_interest_places_by_its_share() -> None:
    # Interest 7 holds the three best scores, interest 8 (share 0.5) the fourth.
    rows = [row(i, 1.0 - i / 10, 0.0, 7 if i < 4 else 8) for i in range(1, 5)]
    coef = np.array(coefficients(0.0, 0.0))
    assert ranked(Pool(rows, {7: 0.5, 8: 0.5}), coef, False) == [1, 2, 3, 4]
    assert ranked(Pool(rows, {7: 0.5, 8: 0.5}), coef, True) == [1, 4, 2, 3]


def test_validation_cases_hold_out_the_second_to_last_like_and_never_see_the_test_item() -> None:
    events = [Event("u", item, 5.0, ts) for ts, item in enumerate(range(10, 17))]
    test = split(events)
    val = validation_split(test)
    (t,), (v,) = test.cases, val.cases
    assert (t.held_out, v.held_out) == (16, 15)
    assert 16 not in v.train_seen and 15 not in v.train_seen
    assert all(e.item not in (15, 16) for e in val.training)


def test_ratio_ci_is_paired_and_brackets_the_ratio() -> None:
    mine, base = [0.9, 0.8, 1.0, 0.7, 0.9], [0.8, 0.8, 0.9, 0.7, 0.8]
    low, high = ratio_ci95(mine, base) or (0.0, 0.0)
    assert low <= sum(mine) / sum(base) <= high
    assert ratio_ci95(base, base) == (1.0, 1.0)  # the same queries drawn for both
    assert ratio_ci95([], []) is None
    with pytest.raises(ValueError, match="paired"):
        ratio_ci95([1.0], [])


def test_the_choice_is_the_best_hit_rate_reaching_the_coverage_goal_interleaved_or_not() -> None:
    def point(hr: float, ndcg: float, coverage: float, interleave: bool) -> dict[str, object]:
        return {"sem": hr, "pop": 0.0, "hits": 0.0, "max": 0.0, "interleave": interleave,
                "hr": hr, "ndcg": ndcg, "coverage": coverage}  # fmt: skip

    best_uncovered = point(0.30, 0.2, COVERAGE_GOAL - 0.01, False)
    score_order = point(0.20, 0.1, COVERAGE_GOAL, False)
    interleaved = point(0.20, 0.09, 0.4, True)
    assert choose([best_uncovered, interleaved, score_order]) is score_order
    # No point reaches the goal: the best of all.
    assert choose([best_uncovered, point(0.1, 0.1, 0.0, True)]) is best_uncovered


def test_coefficients_place_each_knob_on_its_feature() -> None:
    coef = dict(zip(FEATURES, coefficients(0.03, -0.001, 0.02, 0.5), strict=True))
    assert coef == {**dict.fromkeys(FEATURES, 0.0), "cooc": 1.0, "sem": 0.03, "pop": -0.001,
                    "cooc_hits": 0.02, "cooc_max": 0.5}  # fmt: skip
