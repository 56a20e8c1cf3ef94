"""Honest tuning: the judged-query halves and the validation / test users never overlap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.eval_protocol import Event, split
from bench.eval_queries import DEFAULT_QUERIES, load_queries
from bench.eval_splits import (
    DEFAULT_QUERY_SPLIT,
    QUERY_SPLIT_SEED,
    load_query_split,
    split_queries,
    validation_split,
)


def test_query_split_is_seeded_disjoint_and_complete() -> None:
    ids = [f"q{i}" for i in range(11)]
    a = split_queries(ids, seed=3)
    assert split_queries(list(reversed(ids)), seed=3) == a  # input order does not matter
    assert set(a.tuning).isdisjoint(a.report)
    assert set(a.tuning) | set(a.report) == set(ids)
    assert (len(a.tuning), len(a.report)) == (5, 6)
    assert split_queries(ids, seed=4) != a
    with pytest.raises(ValueError, match="unique"):
        split_queries(["a", "a"])


def test_the_committed_split_is_the_seeded_split_of_the_judged_queries() -> None:
    ids = [q.id for q in load_queries(DEFAULT_QUERIES)]
    committed = load_query_split(DEFAULT_QUERY_SPLIT, ids)
    assert committed == split_queries(ids, QUERY_SPLIT_SEED)


def test_a_split_file_that_misses_a_query_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"seed": 0, "tuning": ["a"], "report": ["b"]}))
    with pytest.raises(ValueError, match=r"missing \['c'\]"):
        load_query_split(path, ["a", "b", "c"])
    path.write_text(json.dumps({"seed": 0, "tuning": ["a", "b"], "report": ["b"]}))
    with pytest.raises(ValueError, match="both halves"):
        load_query_split(path, ["a", "b"])


def _likes(user: str, items: list[int], start: int = 100) -> list[Event]:
    return [Event(user, item, 5.0, start + n) for n, item in enumerate(items)]


def test_validation_holds_out_the_second_to_last_like_and_never_the_test_item() -> None:
    events = [*_likes("u", [1, 2, 3, 4, 5, 6]), Event("u", 9, 2.0, 103)]
    events += _likes("v", [1, 2])  # too few likes: never evaluated, always training
    test = split(events)
    (case,) = test.cases
    assert (case.user, case.held_out) == ("u", 6)
    val = validation_split(test)
    (vcase,) = val.cases
    assert (vcase.user, vcase.held_out) == ("u", 5)
    assert vcase.train_likes == (1, 2, 3, 4)
    assert vcase.train_seen == frozenset({1, 2, 3, 4, 9})
    trained = {(e.user, e.item) for e in val.training}
    # Neither held-out item is loaded for validation; the other user's events are.
    assert ("u", 5) not in trained and ("u", 6) not in trained
    assert {("v", 1), ("v", 2), ("u", 9)} <= trained
    assert val.withheld == 1
    # Validation training is a subset of test training: tuning never sees a test item.
    assert set(val.training) <= set(test.training)


def test_a_user_without_an_earlier_like_has_no_validation_case() -> None:
    # Likes 1..5 share the first second, so none is strictly before the second-to-last.
    events = [Event("u", i, 5.0, 100) for i in range(1, 6)] + _likes("u", [7], start=200)
    test = split(events)
    assert [c.held_out for c in test.cases] == [7]
    val = validation_split(test)
    assert val.cases == ()
    assert val.no_prior_like == 1
    assert set(val.training) == set(test.training)
