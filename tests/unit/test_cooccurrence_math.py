"""The co-occurrence math without a database: a matrix small enough to check by hand.

Users u0: A, B, C at p = 2; u1: A, B, D at p = 4; u2: A at p = 3. Damping divides by
log2(1 + 3) = 2 for u0 and u1 and by log2(2) = 1 for u2, so the columns of X are
A = (1, 2, 3), B = (1, 2, 0), C = (1, 0, 0), D = (0, 2, 0): |A| = sqrt 14, |B| = sqrt 5,
|C| = 1, |D| = 2, and A.B = 5, A.C = 1, A.D = 4, B.C = 1, B.D = 4, C.D = 0.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from db.cooccurrence import Preferences, rows_of
from jobs.cooccurrence import Params, changed_lists, damped_matrix, top_neighbors

A, B, C, D = 10, 20, 30, 40
Entry = tuple[int, float, int]  # (neighbour id, score, users)
EVENTS = [(0, A, 2.0), (0, B, 2.0), (0, C, 2.0), (1, A, 4.0), (1, B, 4.0), (1, D, 4.0), (2, A, 3.0)]


def prefs(events: list[tuple[int, int, float]]) -> Preferences:
    users, items, values = zip(*events, strict=True)
    return Preferences(
        users=np.array(users, dtype=np.int64),
        item_ids=np.array(items, dtype=np.int64),
        values=np.array(values, dtype=np.float64),
    )


def lists(events: list[tuple[int, int, float]], **options: float) -> dict[int, list[Entry]]:
    """{item: [(neighbour, score, users), ...]} with ids, as the job computes them."""
    x, ids = damped_matrix(prefs(events))
    top = top_neighbors(
        x,
        k=int(options.get("k", 50)),
        shrinkage=options.get("shrinkage", 5.0),
        min_users=int(options.get("min_users", 1)),
        block_work=int(options.get("block_work", 1 << 20)),
    )
    out: dict[int, list[Entry]] = {}
    for item, rank, neighbor, score, users in zip(
        top.items, top.ranks, top.neighbors, top.scores, top.users, strict=True
    ):
        out.setdefault(int(ids[item]), []).append((int(ids[neighbor]), float(score), int(users)))
        assert rank == len(out[int(ids[item])])
    return out


def approx(expected: dict[int, list[Entry]]) -> dict[int, list[object]]:
    return {
        i: [(n, pytest.approx(s, rel=1e-6), u) for n, s, u in entries]
        for i, entries in expected.items()
    }


def test_damping_divides_by_log2_of_one_plus_the_users_item_count() -> None:
    x, ids = damped_matrix(prefs(EVENTS))
    assert ids.tolist() == [A, B, C, D]
    assert x.toarray().T.tolist() == [[1, 2, 3], [1, 2, 0], [1, 0, 0], [0, 2, 0]]


def test_cosine_without_shrinkage() -> None:
    s14, s5 = math.sqrt(14), math.sqrt(5)
    assert lists(EVENTS, shrinkage=0) == approx(
        {
            A: [(B, 5 / (s14 * s5), 2), (D, 4 / (s14 * 2), 1), (C, 1 / s14, 1)],
            B: [(D, 4 / (s5 * 2), 1), (A, 5 / (s14 * s5), 2), (C, 1 / s5, 1)],
            C: [(B, 1 / s5, 1), (A, 1 / s14, 1)],  # C and D share no user: no pair
            D: [(B, 4 / (s5 * 2), 1), (A, 4 / (s14 * 2), 1)],
        }
    )


def test_shrinkage_favours_pairs_many_users_share() -> None:
    s14, s5 = math.sqrt(14), math.sqrt(5)
    # Shrinkage 3: x 2/5 for A-B (2 users), x 1/4 for the rest; B-D (0.224) falls below
    # A-B (0.239) in B's list.
    got = lists(EVENTS, shrinkage=3)
    want = [(A, 5 / (s14 * s5) * 2 / 5, 2), (D, 2 / s5 / 4, 1), (C, 1 / s5 / 4, 1)]
    assert got[B] == approx({B: want})[B]
    assert [n for n, _, _ in got[A]] == [B, D, C]


def test_min_users_and_k_cut_the_lists() -> None:
    assert [(i, [n for n, _, _ in v]) for i, v in lists(EVENTS, min_users=2).items()] == [
        (A, [B]),
        (B, [A]),
    ]
    assert {i: [n for n, _, _ in v] for i, v in lists(EVENTS, k=1, shrinkage=0).items()} == {
        A: [B],
        B: [D],
        C: [B],
        D: [B],
    }


def test_ties_rank_the_smaller_neighbour_id_first() -> None:
    # One user likes three items equally: every pair has cosine 1 (clipped, never above).
    got = lists([(0, 9, 1.0), (0, 7, 1.0), (0, 5, 1.0)], shrinkage=0)
    assert got == {
        5: [(7, 1.0, 1), (9, 1.0, 1)],
        7: [(5, 1.0, 1), (9, 1.0, 1)],
        9: [(5, 1.0, 1), (7, 1.0, 1)],
    }


def test_blocks_do_not_change_the_result_and_match_a_dense_computation() -> None:
    rng = np.random.default_rng(7)
    keys = np.unique(rng.integers(0, 60, 400) * 1000 + rng.zipf(1.5, 400) % 90)
    events = [(int(k // 1000), int(k % 1000) + 1, float(rng.integers(1, 5))) for k in keys]
    whole = lists(events, k=8, shrinkage=2.0)
    assert lists(events, k=8, shrinkage=2.0, block_work=1) == whole

    x, ids = damped_matrix(prefs(events))
    dense = x.toarray()
    norms = np.linalg.norm(dense, axis=0)
    together = (dense > 0).T.astype(float) @ (dense > 0).astype(float)
    score = (dense.T @ dense) / np.outer(norms, norms) * together / (together + 2.0)
    for col, item in enumerate(ids.tolist()):
        others = [j for j in range(len(ids)) if j != col and together[col, j] > 0]
        best = sorted(others, key=lambda j: (-np.float32(min(score[col, j], 1.0)), j))[:8]
        want = [(int(ids[j]), float(score[col, j]), int(together[col, j])) for j in best]
        assert whole.get(item, []) == approx({item: want})[item]


def test_no_preferences_give_no_lists() -> None:
    x, _ = damped_matrix(Preferences(*(np.zeros(0, dtype=t) for t in ("i8", "i8", "f8"))))
    top = top_neighbors(x, k=5, shrinkage=1.0, min_users=1)
    assert (len(top.items), top.pairs) == (0, 0)


def row_set(*entries: tuple[int, int, int, float, int]) -> np.ndarray:
    cols = list(zip(*entries, strict=True))
    return rows_of(*(np.array(c) for c in cols))


def test_changed_lists_compare_whole_lists() -> None:
    old = row_set((1, 1, 2, 0.5, 3), (1, 2, 3, 0.25, 1), (2, 1, 1, 0.5, 3), (4, 1, 1, 0.1, 1))
    new = row_set(
        (1, 1, 2, 0.5 + 1e-8, 3),  # float noise only: unchanged
        (1, 2, 3, 0.25, 1),
        (2, 1, 1, 0.5, 2),  # another count of users
        (3, 1, 1, 0.9, 1),  # a new list
    )  # and list 4 is gone
    assert changed_lists(old, new).tolist() == [2, 3, 4]
    assert changed_lists(new, new).tolist() == []
    longer = row_set((1, 1, 2, 0.5, 3), (1, 2, 3, 0.25, 1), (1, 3, 4, 0.1, 1))
    assert changed_lists(old[:2], longer).tolist() == [1]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"k": 0}, "--k"),
        ({"k": 1001}, "--k"),
        ({"k": 2.5}, "--k"),
        ({"shrinkage": -0.1}, "--shrinkage"),
        ({"shrinkage": math.inf}, "--shrinkage"),
        ({"min_users": 0}, "--min-users"),
        ({"min_users": True}, "--min-users"),
    ],
)
def test_bad_parameters_name_the_option(options: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Params(**options).check()  # type: ignore[arg-type]
    Params().check()
