"""Offline metrics against small cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import eval_metrics as m


def test_rank_hit_rate_and_ndcg_of_one_held_out_item() -> None:
    assert m.rank_of([5, 3, 9], 9) == 3
    assert m.hit_rate([5, 3, 9], 9) == 1.0
    assert m.ndcg_single([5, 3, 9], 9) == pytest.approx(0.5)  # 1 / log2(4)
    assert m.ndcg_single([9, 3], 9) == 1.0
    assert m.hit_rate([5, 3], 9) == 0.0
    assert m.ndcg_single([5, 3], 9) == 0.0


def test_only_the_first_k_count() -> None:
    ranked = list(range(100, 111))  # the target is 11th
    assert m.rank_of(ranked, 110) is None
    assert m.hit_rate(ranked, 110) == 0.0
    assert m.hit_rate(ranked, 110, k=11) == 1.0
    assert m.ndcg_single(ranked, 110, k=11) == pytest.approx(1 / math.log2(12))


def test_precision_divides_by_k_even_for_short_lists() -> None:
    assert m.precision([1, 2, 3, 4], {2, 4, 7}, k=4) == 0.5
    assert m.precision([1, 2, 3, 4], {2, 4, 7}) == pytest.approx(0.2)


def test_graded_ndcg() -> None:
    # DCG = 1/1 + 0 + 2/log2(4) = 2; ideal grades 2, 2, 1 -> 2 + 2/log2(3) + 1/2.
    grades = {1: 1.0, 3: 2.0, 9: 2.0}
    ideal = 2 + 2 / math.log2(3) + 0.5
    assert m.ndcg_graded([1, 2, 3], grades, k=3) == pytest.approx(2 / ideal)
    assert m.ndcg_graded([9, 3, 1], grades, k=3) == pytest.approx(1.0)
    assert m.ndcg_graded([5, 6], grades) == 0.0
    assert m.ndcg_graded([5, 6], {}) == 0.0


def test_coverage_counts_distinct_items_over_the_catalog() -> None:
    assert m.coverage([[1, 2], [2, 3]], catalog_size=10) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        m.coverage([[1]], catalog_size=0)


def test_intra_list_diversity_is_mean_pairwise_cosine_distance() -> None:
    e1, e2 = np.array([3.0, 0.0]), np.array([0.0, 1.0])  # unnormalised on purpose
    mid = np.array([1.0, 1.0])
    # pairs: (e1, e2) 1 - 0; (e1, mid) and (e2, mid) 1 - 1/sqrt(2)
    expected = (1.0 + 2 * (1 - 1 / math.sqrt(2))) / 3
    assert m.intra_list_diversity(np.stack([e1, e2, mid])) == pytest.approx(expected)
    assert m.intra_list_diversity(np.stack([e1, e1])) == pytest.approx(0.0)
    assert m.intra_list_diversity(np.stack([e1])) is None


def test_novelty_and_popularity_share() -> None:
    share = m.popularity_share({1: 3}, catalog=[1, 2], n_users=3)
    assert share == {1: 1.0, 2: 0.25}  # (3 + 1) / 4 and (0 + 1) / 4
    assert m.novelty([1, 2], share) == pytest.approx(1.0)  # (0 + 2) / 2
    assert m.novelty([], share) is None


def test_mean_and_confidence_interval() -> None:
    assert m.mean([1.0, None, 3.0]) == 2.0
    assert m.mean([None]) is None
    assert m.ci95([0.0, 1.0]) == pytest.approx(1.96 * math.sqrt(0.5) / math.sqrt(2))
    assert m.ci95([1.0]) == 0.0
