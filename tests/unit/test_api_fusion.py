"""Reciprocal Rank Fusion (k=60) keeps each mode's rank and score for explain=true."""

from __future__ import annotations

import numpy as np
import pytest

from api import fusion
from api.fusion import RRF_K, ModeRank, normalized, rrf, single
from db.recs import Hit


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = rrf(
        {
            "semantic": [Hit(1, 0.9), Hit(2, 0.8), Hit(3, 0.7)],
            "terms": [Hit(3, 5.0), Hit(1, 2.0)],
        }
    )
    assert RRF_K == 60
    scores = {f.item_id: f.score for f in fused}
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    assert [f.item_id for f in fused] == [1, 3, 2]
    assert fused[0].modes == {"semantic": ModeRank(1, 0.9), "terms": ModeRank(2, 2.0)}


def test_ties_prefer_the_better_best_rank_then_the_lower_id() -> None:
    fused = rrf({"a": [Hit(5, 1.0), Hit(6, 0.5)], "b": [Hit(6, 1.0), Hit(5, 0.5)]})
    assert [f.item_id for f in fused] == [5, 6]  # equal sums and best ranks: lower id
    fused = rrf({"a": [Hit(9, 1.0)], "b": [Hit(4, 1.0)]})
    assert [f.item_id for f in fused] == [4, 9]


def test_an_item_repeated_in_one_list_counts_once() -> None:
    fused = rrf({"a": [Hit(1, 1.0), Hit(1, 0.5)]})
    assert fused[0].score == pytest.approx(1 / 61)


def test_empty_lists_and_single_mode_shape() -> None:
    assert rrf({"a": [], "b": []}) == []
    one = single("terms", [Hit(7, 3.0), Hit(8, 1.0)])
    assert [(f.item_id, f.score) for f in one] == [(7, 3.0), (8, 1.0)]
    assert one[1].modes == {"terms": ModeRank(2, 1.0)}


def test_weights_scale_each_list_and_a_zero_weight_still_shows_ranks() -> None:
    lists = {"a": [Hit(1, 0.9), Hit(2, 0.8)], "b": [Hit(2, 5.0), Hit(3, 1.0)]}
    fused = rrf(lists, k=10, weights={"a": 2.0, "b": 0.0})
    scores = {f.item_id: f.score for f in fused}
    assert scores == pytest.approx({1: 2 / 11, 2: 2 / 12, 3: 0.0})
    assert [f.item_id for f in fused] == [1, 2, 3]
    assert fused[1].modes == {"a": ModeRank(2, 0.8), "b": ModeRank(1, 5.0)}


def test_normalized_sums_min_max_scaled_scores() -> None:
    lists = {"a": [Hit(1, 0.9), Hit(2, 0.5), Hit(3, 0.1)], "b": [Hit(3, 8.0), Hit(4, 2.0)]}
    fused = normalized(lists, weights={"a": 1.0, "b": 0.5})
    assert {f.item_id: f.score for f in fused} == pytest.approx({1: 1.0, 2: 0.5, 3: 0.5, 4: 0.0})
    assert [f.item_id for f in fused] == [1, 3, 2, 4]  # 3 ties 2 and has the better best rank
    assert normalized({"a": [Hit(7, 2.0), Hit(8, 2.0)]})[0].score == 1.0


def test_hybrid_and_more_like_use_the_tuned_constants() -> None:
    lists = {"semantic": [Hit(1, 0.9), Hit(3, 0.2)], "terms": [Hit(2, 7.0), Hit(1, 1.0)]}
    w = fusion.HYBRID_WEIGHTS
    if fusion.HYBRID_METHOD == "scores":
        expected = normalized(lists, weights=w)
    else:
        expected = rrf(lists, k=fusion.HYBRID_K, weights=w)
    assert fusion.hybrid(lists) == expected
    blended = fusion.more_like([Hit(5, 0.7)], [Hit(6, 3.0), Hit(5, 1.0)])
    assert set(blended[0].modes) | set(blended[1].modes) == {"vector", "also_liked"}
    assert {f.item_id for f in blended} == {5, 6}


def test_comb_mnz_multiplies_the_normalised_sum_by_the_lists_holding_the_item() -> None:
    lists = {
        "semantic": [Hit(1, 0.9), Hit(2, 0.5), Hit(3, 0.1)],
        "terms": [Hit(2, 4.0), Hit(4, 2.0), Hit(3, 0.0)],
        "title": [Hit(1, 1.0)],
    }
    fused = fusion.comb_mnz(lists, weights={"semantic": 1.0, "terms": 1.0, "title": 0.0})
    scores = {f.item_id: f.score for f in fused}
    # Item 1: semantic 1 (title weighs 0: shown, not counted); item 2: (0.5 + 1) x 2 lists.
    assert scores[1] == pytest.approx(1.0)
    assert scores[2] == pytest.approx(1.5 * 2)
    assert scores[3] == pytest.approx(0.0)
    assert scores[4] == pytest.approx(0.5)
    assert [f.item_id for f in fused][:3] == [2, 1, 4]
    assert "title" in fused[1].modes


def _vectors(known: dict[int, list[float]]) -> fusion.Vectors:
    return lambda ids: {i: np.array(known[i]) for i in ids if i in known}


def test_feedback_reranks_terms_by_the_query_moved_toward_the_first_pass() -> None:
    # The query points at x; the first pass's best item (9) at y: with beta 4 the moved
    # vector is unit(1, 4), so item 2 (y) and 3 (mostly y) come near, item 1 (x) does not.
    vectors = _vectors({1: [1, 0], 2: [0, 1], 3: [0.6, 0.8], 9: [0, 2]})
    first = rrf({"semantic": [Hit(9, 0.9), Hit(1, 0.5)]})
    terms = [Hit(1, 3.0), Hit(2, 2.0), Hit(3, 1.0)]
    how = fusion.Feedback(seeds=1, beta=4.0, depth=3, alpha=0.5)
    fused = fusion.feedback(first, terms, np.array([2.0, 0.0]), vectors, how)
    moved = np.array([1.0, 4.0]) / np.sqrt(17)
    cos = {1: moved[0], 2: moved[1], 3: 0.6 * moved[0] + 0.8 * moved[1]}
    near3 = (cos[3] - cos[1]) / (cos[2] - cos[1])
    # Terms' scores min-max: 1, 0.5, 0; cosines min-max: 0, 1, near3.
    assert [f.item_id for f in fused] == [2, 1, 3, 9]
    assert [f.score for f in fused[:3]] == pytest.approx([0.75, 0.5, 0.5 * near3])
    shown = fused[0].modes["feedback"]
    assert shown.rank == 1
    assert shown.score == pytest.approx(cos[2])
    assert fused[1].modes["semantic"] == ModeRank(2, 0.5)  # the first pass's ranks stay
    assert 0 <= fused[3].score < fused[2].score  # the rest follows, scaled below


def test_feedback_without_terms_or_seed_vectors_is_the_first_pass() -> None:
    first = rrf({"semantic": [Hit(9, 0.9), Hit(1, 0.5)]})
    how = fusion.Feedback(seeds=1, beta=4.0, depth=3, alpha=0.5)
    query = np.array([1.0, 0.0])
    assert fusion.feedback(first, [], query, _vectors({9: [0, 1]}), how) == first
    assert fusion.feedback(first, [Hit(1, 2.0)], query, _vectors({1: [1, 0]}), how) == first


def test_hybrid_applies_the_tuned_feedback_given_the_query_and_vectors() -> None:
    lists = {"semantic": [Hit(1, 0.9), Hit(3, 0.2)], "terms": [Hit(2, 7.0), Hit(1, 1.0)]}
    vectors = _vectors({1: [1, 0], 2: [0, 1], 3: [1, 1]})
    query = np.array([1.0, 0.0])
    fused = fusion.hybrid(lists, query=query, vectors=vectors)
    if fusion.HYBRID_FEEDBACK is None:
        assert fused == fusion.hybrid(lists)
    else:
        expected = fusion.feedback(
            fusion.hybrid(lists), lists["terms"], query, vectors, fusion.HYBRID_FEEDBACK
        )
        assert fused == expected
        assert "feedback" in fused[0].modes
    assert fusion.hybrid_depth() >= fusion.HYBRID_DEPTH
