"""The co-occurrence tables restated in plain Python from the raw events, to test the job by.

`direct` restates the formula with dict loops over the raw events (it shares no code with the
job); `assert_matches` compares the stored tables with it: scores within TOL, neighbours rank
by rank (a swap is accepted only between scores equal within TOL), co-user counts exactly.
"""

from __future__ import annotations

import math
import struct
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.cli import query

TOL = 1e-6
Lists = dict[int, list[tuple[int, float, int]]]  # item -> [(neighbour, score, users)]


def f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def weight(event: str, value: float | None) -> float:
    """rec.event_weight restated: purchase 4, like 3, click 1, view 0.5, rating around 2.5."""
    if event == "rating":
        return 0.0 if value is None else f32(3 * (min(max(value, 0.0), 5.0) - 2.5) / 2.5)
    return {"purchase": 4.0, "like": 3.0, "click": 1.0, "view": 0.5}[event]


@dataclass
class Direct:
    lists: Lists
    pairs: dict[tuple[int, int], tuple[float, int]]  # every kept pair: (score, users)
    stats: dict[int, tuple[int, int, float, Any]]  # users, positive_users, preference, last_at


def direct(url: str, k: int = 50, shrinkage: float = 5.0, min_users: int = 1) -> Direct:
    """The tables as the formula defines them, from the raw events, with plain loops."""
    events = query(url, "SELECT user_id, item_id, event, value, occurred_at FROM interactions")
    pref: dict[tuple[str, int], float] = defaultdict(float)
    last: dict[int, Any] = {}
    for user, item, event, value, at in events:
        pref[user, item] += weight(event, value)
        last[item] = max(last.get(item, at), at)
    liked: dict[str, dict[int, float]] = defaultdict(dict)
    for (user, item), p in pref.items():
        if p > 0:
            liked[user][item] = p
    users_of: dict[int, int] = defaultdict(int)
    positive: dict[int, tuple[int, float]] = defaultdict(lambda: (0, 0.0))
    for (_, item), p in pref.items():
        users_of[item] += 1
        if p > 0:
            n, total = positive[item]
            positive[item] = (n + 1, total + p)
    stats = {i: (users_of[i], *positive[i], last[i]) for i in last}

    norm2: dict[int, float] = defaultdict(float)
    dot: dict[tuple[int, int], float] = defaultdict(float)
    together: dict[tuple[int, int], int] = defaultdict(int)
    for items in liked.values():
        damped = {i: p / math.log2(1 + len(items)) for i, p in items.items()}
        for i, a in damped.items():
            norm2[i] += a * a
            for j, b in damped.items():
                if i != j:
                    dot[i, j] += a * b
                    together[i, j] += 1
    pairs: dict[tuple[int, int], tuple[float, int]] = {}
    by_item: dict[int, list[tuple[int, float, int]]] = defaultdict(list)
    for (i, j), c in dot.items():
        n = together[i, j]
        if n >= min_users:
            cos = c / (math.sqrt(norm2[i]) * math.sqrt(norm2[j]))
            pairs[i, j] = (min(cos * n / (n + shrinkage), 1.0), n)
            by_item[i].append((j, *pairs[i, j]))
    lists = {i: sorted(c, key=lambda t: (-f32(t[1]), t[0]))[:k] for i, c in by_item.items()}
    return Direct(lists, pairs, stats)


def stored(url: str) -> Lists:
    lists: Lists = defaultdict(list)
    rows = query(
        url, "SELECT item_id, neighbor_id, score, users FROM item_cooccurrence ORDER BY 1, rank"
    )
    for item, neighbor, score, users in rows:
        lists[item].append((neighbor, score, users))
    return dict(lists)


def assert_matches(url: str, want: Direct) -> None:
    """item_cooccurrence equals the direct lists (near-ties may swap), item_stats its counts."""
    got = stored(url)
    assert set(got) == set(want.lists)
    for item, expected in want.lists.items():
        actual = got[item]
        assert len(actual) == len(expected), item
        for (neighbor, score, users), (e_neighbor, e_score, _) in zip(
            actual, expected, strict=True
        ):
            assert score == pytest.approx(e_score, abs=TOL), (item, neighbor)
            if neighbor != e_neighbor:  # only a tie may swap places
                assert want.pairs[item, neighbor][0] == pytest.approx(e_score, abs=TOL)
            assert users == want.pairs[item, neighbor][1]
    stats = {r[0]: r[1:] for r in query(url, "SELECT * FROM item_stats")}
    assert set(stats) == set(want.stats)
    for item, (users, positive, preference, last_at) in want.stats.items():
        assert stats[item][:2] == (users, positive)
        assert stats[item][2] == pytest.approx(preference, rel=1e-6)
        assert stats[item][3] == last_at


def differing(before: Direct, after: Direct) -> set[int]:
    """Items whose list differs: other neighbours or counts, or a score moved beyond TOL."""
    out = set()
    for item in set(before.lists) | set(after.lists):
        a, b = before.lists.get(item, []), after.lists.get(item, [])
        if [(n, u) for n, _, u in a] != [(n, u) for n, _, u in b] or any(
            abs(x[1] - y[1]) > TOL for x, y in zip(a, b, strict=True)
        ):
            out.add(item)
    return out


def list_rows(url: str) -> dict[int, list[str]]:
    """Physical row versions (ctid, xmin) of each list: unchanged lists keep them."""
    rows = query(
        url, "SELECT item_id, ctid::text || '/' || xmin::text FROM item_cooccurrence ORDER BY 1, 2"
    )
    out: dict[int, list[str]] = defaultdict(list)
    for item, version in rows:
        out[item].append(version)
    return dict(out)
