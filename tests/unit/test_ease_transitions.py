"""The sequential part of the user mode's lists (jobs/ease.py): transitions and columns."""

from __future__ import annotations

import math

import numpy as np

from jobs.ease import columns_of, transitions


def test_columns_of_finds_kept_items_and_marks_the_others() -> None:
    kept = np.array([3, 7, 10])
    got = columns_of(kept, np.array([10, 4, 3, 11, 7]))
    assert got.tolist() == [2, -1, 0, -1, 1]
    assert columns_of(np.zeros(0, np.int64), np.array([1])).tolist() == [-1]


def test_transitions_count_liked_followers_within_the_window_of_one_user() -> None:
    # user 0: a(0) b(1) c(2); user 1: b(1) a(0); c is not liked by user 0.
    users = np.array([0, 0, 0, 1, 1])
    cols = np.array([0, 1, 2, 1, 0])
    liked = np.array([True, True, False, True, True])
    t = transitions(users, cols, liked, 3, window=2).toarray()
    # Pairs: (a, b) from user 0; (b, a) from user 1; nothing into c (not liked), nothing
    # across users (c -> b of user 1 would be).
    raw = {(0, 1): 1.0, (1, 0): 1.0}
    assert {(int(a), int(b)) for a, b in zip(*np.nonzero(t), strict=True)} == set(raw)
    # Each row and column sum is 1 here: the normalisation leaves the counts.
    assert math.isclose(t[0, 1], 1.0) and math.isclose(t[1, 0], 1.0)


def test_transitions_normalise_by_row_and_column_sums_and_respect_the_window() -> None:
    # One user: a b c d; every item liked; window 2: a->b, a->c, b->c, b->d, c->d.
    users = np.zeros(4, np.int64)
    t = transitions(users, np.arange(4), np.ones(4, bool), 4, window=2).toarray()
    assert t[0, 3] == 0.0  # three places apart
    out = np.array([2.0, 2.0, 1.0, 0.0])
    into = np.array([0.0, 1.0, 2.0, 2.0])
    for a, b in ((0, 1), (0, 2), (1, 2), (1, 3), (2, 3)):
        assert math.isclose(t[a, b], 1.0 / math.sqrt(out[a] * into[b]))


def test_items_outside_the_kept_columns_take_no_part_but_keep_their_places() -> None:
    # a x b with x outside: a->b is two places apart, so window 1 sees nothing.
    users = np.zeros(3, np.int64)
    cols = np.array([0, -1, 1])
    liked = np.ones(3, bool)
    assert transitions(users, cols, liked, 2, window=1).nnz == 0
    assert transitions(users, cols, liked, 2, window=2).toarray()[0, 1] == 1.0
