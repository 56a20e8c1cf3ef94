"""item_collaborative (EASE lists) and the user mode's collaborative feature on real data.

The TMDB catalog and the MovieLens ratings of the first 40 users, as in test_cooccurrence.
The job's table is compared with its lists restated here in plain numpy from the raw events
(likes: a rating >= 4; EASE, columns over likes^POP_EXPONENT, plus the sequential
transitions), and rec.user_candidates' `cooc` feature with the sum over a user's
20 most recent items recomputed from the table.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from jobs.cooccurrence import refresh_cooccurrence
from jobs.ease import LAMBDA, POP_EXPONENT, TRANSITION_WEIGHT, WINDOW, K
from tests.support.cli import load_movielens, query
from tests.support.databases import private_database

USERS = 40


@pytest.fixture(scope="module")
def db(
    server_url: str, template_url: str, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Catalog + 40 MovieLens users, co-occurrence (and so EASE) refreshed once."""
    with private_database(server_url, template_url) as url:
        load_movielens(url, shared_data, tmp_path_factory.mktemp("ml"), USERS)
        refresh_cooccurrence(url=url)
        yield url


def direct_transitions(db: str, items: list[int]) -> np.ndarray:
    """T restated: liked b within WINDOW places after a in a user's time order, counted per
    pair, over sqrt(row sum x column sum); only the liked `items` take part."""
    rows = query(
        db,
        "SELECT user_id, item_id, sum(rec.event_weight(event, value)) FROM interactions"
        ' GROUP BY user_id, item_id ORDER BY user_id COLLATE "C", max(occurred_at), item_id',
    )
    t = np.zeros((len(items), len(items)))
    where = {i: n for n, i in enumerate(items)}
    for n, (user, a, _) in enumerate(rows):
        for user_b, b, p in rows[n + 1 : n + 1 + WINDOW]:
            if user_b == user and p >= 1.5 and a in where and b in where:
                t[where[a], where[b]] += 1
    out, into = t.sum(axis=1), t.sum(axis=0)
    nonzero = t > 0
    t[nonzero] /= np.sqrt(np.outer(out, into)[nonzero])
    return t


def direct_ease(db: str) -> dict[int, list[tuple[int, float]]]:
    """Each item's top-K positive list weights, computed from the ratings alone."""
    likes = query(
        db,
        "SELECT user_id, item_id FROM interactions GROUP BY user_id, item_id"
        " HAVING sum(rec.event_weight(event, value)) >= 1.5",
    )
    users = sorted({u for u, _ in likes})
    items = sorted({i for _, i in likes})
    x = np.zeros((len(users), len(items)))
    for u, i in likes:
        x[users.index(u), items.index(i)] = 1.0
    p = np.linalg.inv(x.T @ x + LAMBDA * np.eye(len(items)))
    b = -p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    b = b / x.sum(axis=0)[None, :] ** POP_EXPONENT + TRANSITION_WEIGHT * direct_transitions(
        db, items
    )
    out: dict[int, list[tuple[int, float]]] = {}
    for r, item in enumerate(items):
        best = sorted((-b[r, c], items[c]) for c in range(len(items)) if b[r, c] > 0)[:K]
        if best:
            out[item] = [(j, -s) for s, j in best]
    return out


def test_table_equals_lists_computed_directly(db: str) -> None:
    want = direct_ease(db)
    rows = query(
        db, "SELECT item_id, rank, neighbor_id, score FROM item_collaborative ORDER BY 1, 2"
    )
    got: dict[int, list[tuple[int, float]]] = {}
    for item, rank, neighbor, score in rows:
        assert rank == len(got.setdefault(item, [])) + 1
        got[item].append((neighbor, score))
    assert got.keys() == want.keys() and len(want) > 500
    for item, mine in want.items():
        theirs = got[item]
        assert len(theirs) == len(mine)
        # float32 in the table: scores within 1e-6 relative; a swap only between equal scores.
        for (n1, s1), (n2, s2) in zip(theirs, mine, strict=True):
            assert math.isclose(s1, s2, rel_tol=1e-5, abs_tol=1e-7)
            assert n1 == n2 or math.isclose(s1, s2, rel_tol=1e-5, abs_tol=1e-7)


def test_user_candidates_sum_the_lists_of_the_recent_items(db: str) -> None:
    user = "ml:1"
    recent = query(
        db,
        "SELECT item_id, sum(rec.event_weight(event, value)) AS p FROM interactions"
        " WHERE user_id = %s GROUP BY item_id ORDER BY max(occurred_at) DESC, item_id DESC"
        " LIMIT 20",
        user,
    )
    weight = {i: 0.9**n * (1.0 if p >= 1.5 else 0.5) for n, (i, p) in enumerate(recent)}
    lists = query(
        db,
        "SELECT item_id, neighbor_id, score FROM item_collaborative WHERE item_id = ANY(%s)",
        list(weight),
    )
    total: dict[int, float] = {}
    for item, neighbor, score in lists:
        total[neighbor] = total.get(neighbor, 0.0) + weight[item] * score
    got = query(
        db,
        "SELECT c.item_id, c.features[1], coalesce(s.preference, 0)"
        " FROM rec.user_candidates(%s, '{}', 100) c"
        " LEFT JOIN item_stats s ON s.item_id = c.item_id WHERE 'cooc' = ANY(c.sources)",
        user,
    )
    assert len(got) == 100
    for item, feature, preference in got:
        want = math.log1p(max(total[item], 0.0)) - 0.003 * math.log1p(preference)
        assert math.isclose(feature, want, rel_tol=1e-4, abs_tol=1e-6)
    # The source is the 100 best sums among the items the user has not rated.
    seen = {i for (i,) in query(db, "SELECT item_id FROM interactions WHERE user_id = %s", user)}
    best = sorted((t for i, t in total.items() if i not in seen), reverse=True)[:100]
    assert min(total[i] for i, _, _ in got) >= best[-1] - 1e-6
