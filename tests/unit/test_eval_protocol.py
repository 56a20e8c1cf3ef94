"""Leave-last-liked-out: which events train and which one is held out."""

from __future__ import annotations

from bench.eval_protocol import Event, dedupe, sample, split


def _likes(user: str, items_times: list[tuple[int, int]], value: float = 4.0) -> list[Event]:
    return [Event(user, item, value, ts) for item, ts in items_times]


def test_dedupe_keeps_the_latest_rating_of_an_item() -> None:
    events = [Event("u", 1, 2.0, 10), Event("u", 1, 5.0, 20), Event("v", 1, 3.0, 5)]
    assert dedupe(events) == [Event("u", 1, 5.0, 20), Event("v", 1, 3.0, 5)]


def test_holds_out_the_most_recent_like_and_trains_strictly_before_it() -> None:
    events = [
        *_likes("u", [(1, 10), (2, 20), (3, 30), (4, 40)]),
        Event("u", 9, 2.0, 45),  # disliked: training, excluded, never a target
        Event("u", 5, 4.5, 50),  # held out
        Event("u", 8, 3.0, 50),  # same second as the held-out one: withheld
        Event("u", 7, 5.0, 40),
        Event("u", 6, 1.0, 60),  # later: withheld
    ]
    s = split(events)
    (case,) = s.cases
    assert (case.user, case.held_out, case.cutoff) == ("u", 5, 50)
    assert case.train_likes == (1, 2, 3, 4, 7)  # oldest first, ties by item
    assert case.train_seen == frozenset({1, 2, 3, 4, 7, 9})
    assert case.held_out not in case.train_seen
    assert {e.item for e in s.training} == {1, 2, 3, 4, 7, 9}
    assert all(e.ts < case.cutoff for e in s.training)
    assert s.withheld == 3


def test_a_tie_on_the_last_timestamp_goes_to_the_larger_item() -> None:
    events = _likes("u", [(1, 10), (2, 20), (3, 30), (4, 50), (6, 50)])
    (case,) = split(events).cases
    assert case.held_out == 6
    assert 4 not in case.train_seen  # rated in the held-out second: withheld, not excluded


def test_ineligible_users_are_training_data_only() -> None:
    few = _likes("few", [(1, 10), (2, 20), (3, 30), (4, 40)])  # four likes
    same_time = _likes("burst", [(i, 99) for i in range(1, 7)])  # nothing strictly before
    s = split([*few, *same_time])
    assert s.cases == ()
    assert (s.users, s.too_few_likes, s.no_prior_like, s.withheld) == (2, 1, 1, 0)
    assert sorted(s.training, key=lambda e: (e.user, e.item)) == sorted(
        [*few, *same_time], key=lambda e: (e.user, e.item)
    )


def test_sample_is_seeded_and_in_user_order() -> None:
    events = [e for u in "abcdef" for e in _likes(u, [(i, 10 * i) for i in range(1, 7)])]
    cases = split(events).cases
    picked = sample(cases, 3, seed=7)
    assert len(picked) == 3
    assert picked == sample(cases, 3, seed=7)
    assert [c.user for c in picked] == sorted(c.user for c in picked)
    assert sample(cases, None, seed=7) == list(cases)
    assert sample(cases, 100, seed=7) == list(cases)
