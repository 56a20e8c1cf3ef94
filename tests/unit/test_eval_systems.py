"""Baseline sources, RRF hybrids, blocked modes and per-system scoring, without a database."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.exc import DBAPIError

from bench import eval_metrics as m
from bench import eval_report
from bench.eval_protocol import Case
from bench.eval_systems import (
    DEPTH,
    ModeUnavailable,
    Scoring,
    SystemLists,
    Training,
    db_call,
    popularity,
    random_items,
    recommend,
    score,
)
from db.recs import Hit


def _case(user: str, held_out: int, seen: set[int]) -> Case:
    return Case(user, held_out, 100, tuple(sorted(seen)), frozenset(seen))


TRAINING = Training(
    catalog=tuple(range(1, 101)),
    popular=tuple(range(1, 101)),  # item 1 most liked
    likes={i: 101 - i for i in range(1, 101)},
    users_per_item=dict.fromkeys(range(1, 101), 1),
    users=3,
)


def test_popularity_skips_training_items_but_not_the_held_out_one() -> None:
    hits = popularity(TRAINING)(_case("u", held_out=3, seen={1, 2, 4}))
    assert [h.item_id for h in hits[:3]] == [3, 5, 6]
    assert len(hits) == DEPTH


def test_random_is_seeded_per_user_and_skips_training_items() -> None:
    source = random_items(TRAINING, seed=1)
    case = _case("u", held_out=3, seen=set(range(1, 60)))
    first = [h.item_id for h in source(case)]
    assert first == [h.item_id for h in source(case)]
    assert len(first) == len(set(first)) == 41  # only 41 items left
    assert not set(first) & case.train_seen
    assert first != [h.item_id for h in random_items(TRAINING, seed=2)(case)]


def test_hybrids_fuse_their_sources_with_rrf() -> None:
    case = _case("u", held_out=9, seen={1})
    sources = {
        "a": lambda c: [Hit(7, 1.0), Hit(8, 0.5), Hit(9, 0.1)],
        "b": lambda c: [Hit(9, 1.0), Hit(8, 0.9)],
    }
    lists = {s.name: s for s in recommend([case], sources, hybrids={"a+b": ("a", "b")})}
    # 9: 1/63 + 1/61 = 0.032266 > 8: 1/62 + 1/62 = 0.032258 > 7: 1/61.
    assert lists["a+b"].lists["u"] == (9, 8, 7)
    assert lists["a+b"].fuses == ("a", "b")


def test_items_the_user_trained_on_are_dropped_and_counted() -> None:
    case = _case("u", held_out=9, seen={1, 2})
    sources = {"leaky": lambda c: [Hit(1, 1.0), Hit(9, 0.9), Hit(2, 0.8), Hit(5, 0.1)]}
    (system,) = recommend([case], sources, hybrids={})
    assert system.lists["u"] == (9, 5)
    assert system.returned_excluded == 2


def test_a_source_not_built_yet_blocks_itself_and_its_hybrids() -> None:
    def missing(case: Case) -> list[Hit]:
        raise NotImplementedError("db.recs.for_user is not implemented yet")

    cases = [_case("u", 9, {1}), _case("v", 9, {1})]
    sources = {"pop": lambda c: [Hit(9, 1.0)], "user": missing}
    out = {s.name: s for s in recommend(cases, sources, hybrids={"both": ("user", "pop")})}
    assert out["pop"].status == "ok" and len(out["pop"].lists) == 2
    assert out["user"].status == "blocked: db.recs.for_user is not implemented yet"
    assert out["both"].status == out["user"].status and not out["both"].lists
    scored = score(out["both"], cases, _scoring())
    assert (scored.users, scored.hr) == (0, None)


def _scoring() -> Scoring:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    share = m.popularity_share({1: 1, 2: 3}, catalog=[1, 2, 3], n_users=3)
    return Scoring(catalog_size=3, vector_row={1: 0, 2: 1, 3: 2}, vectors=vectors, share=share)


def test_score_one_system() -> None:
    cases = [_case("u", 2, set()), _case("v", 3, set())]
    system = SystemLists("s", lists={"u": (1, 2), "v": (1, 2)})
    s = score(system, cases, _scoring())
    assert s.users == 2
    assert s.hr == 0.5
    assert s.ndcg == pytest.approx((1 / np.log2(3)) / 2)
    assert s.coverage == pytest.approx(2 / 3)
    assert s.ild == pytest.approx(1.0)  # orthogonal vectors
    assert s.novelty == pytest.approx(0.5)  # items 1 and 2: -log2(2/4) and -log2(4/4)


def test_the_text_table_shows_every_system() -> None:
    cases = [_case("u", 2, set())]
    ok = score(SystemLists("popularity", lists={"u": (2, 1)}), cases, _scoring())
    blocked = score(SystemLists("user", status="blocked: not yet"), cases, _scoring())
    report = {
        "systems": [ok.__dict__, blocked.__dict__],
        "queries": {"file": "q.json", "count": 0, "modes": []},
        "protocol": {
            "evaluated_users": 1,
            "eligible_users": 1,
            "catalog_items": 3,
            "training_events": 5,
            "withheld_events": 1,
        },
        "embedder": {"name": "fake"},
        "command": "pgrec eval --fake-embedder",
        "machine": {"nproc": 2, "cpu": "x", "platform": "p", "python": "3.11"},
        "seconds": 1.0,
    }
    out = eval_report.text(report)
    assert "popularity  1.000 ± 0.000" in out
    assert "user        blocked: not yet" in out
    assert "reproduce: pgrec eval --fake-embedder" in out
    assert "| popularity | 1.000 ± 0.000 |" in eval_report.markdown(report)


class _Conn:
    """Just enough of a Connection for db_call: it rolls back after every call."""

    def __init__(self) -> None:
        self.rollbacks = 0

    def rollback(self) -> None:
        self.rollbacks += 1


def test_db_call_turns_missing_and_failing_modes_into_reasons() -> None:
    conn = _Conn()

    def missing() -> list[Hit]:
        raise NotImplementedError

    def failing() -> list[Hit]:
        raise DBAPIError.instance("SELECT 1", {}, Exception("boom\nCONTEXT: x"), Exception)

    with pytest.raises(ModeUnavailable, match=r"^blocked: db.recs.for_user is not"):
        db_call(conn, "for_user", missing)  # type: ignore[arg-type]
    with pytest.raises(ModeUnavailable, match=r"^failed: db.recs.more_like: boom$"):
        db_call(conn, "more_like", failing)  # type: ignore[arg-type]
    assert db_call(conn, "semantic", lambda: [Hit(1, 1.0)]) == [Hit(1, 1.0)]  # type: ignore[arg-type]
    assert conn.rollbacks == 3


def test_a_failing_source_is_reported_not_raised() -> None:
    def failing(case: Case) -> list[Hit]:
        raise ModeUnavailable("failed: db.recs.more_like: boom")

    (system,) = recommend([_case("u", 9, set())], {"more-like-these": failing}, hybrids={})
    assert system.status == "failed: db.recs.more_like: boom"
