"""bench/eval_lists_grid: the in-process scoring of the user mode's lists on validation users."""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse

from bench.eval_lists_grid import Validation, rating_weight, top10
from bench.eval_protocol import Case, Event


def test_rating_weight_is_rec_event_weight_of_a_rating() -> None:
    got = [rating_weight(v) for v in (5.0, 4.0, 2.5, 0.5)]
    assert all(
        math.isclose(a, b, abs_tol=1e-9) for a, b in zip(got, [3.0, 1.8, 0.0, -2.4], strict=True)
    )
    assert math.isclose(rating_weight(9.0), 3.0)


def test_top10_follows_the_recent_items_lists_and_leaves_out_what_the_user_rated() -> None:
    ids = np.arange(1, 31, dtype=np.int64)  # catalog 1..30; items 1..3 have lists
    events = {"u": [Event("u", 2, 5.0, 20), Event("u", 1, 5.0, 10)]}  # newest first
    lists = np.zeros((3, 3))
    lists[1, 2] = 1.0  # 2 -> 3 strongly
    lists[1, 0] = 0.5  # 2 -> 1, but 1 was rated
    v = Validation(
        cases=[], events=events, ids=ids, x=sparse.csr_array((1, 3)),
        item_ids=np.array([1, 2, 3]), sequences=(np.zeros(0), np.zeros(0), np.zeros(0)),
        preference=np.linspace(0, 1, 30),
    )  # fmt: skip
    case = Case("u", held_out=3, cutoff=30, train_likes=(1, 2), train_seen=frozenset({1, 2}))
    top = top10(v, lists, case)
    assert top[0] == 3 and 1 not in top and 2 not in top
    # Outside the lists: by popularity (the fallback's weight), the most preferred first.
    assert top[1:4] == [30, 29, 28]
