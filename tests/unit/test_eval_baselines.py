"""The eval's in-process baselines: TF-IDF term search and item-kNN (cosine)."""

from __future__ import annotations

import pytest

from bench.eval_baselines import ItemKnn, TfidfSearch
from bench.eval_protocol import Case


def test_tfidf_ranks_by_cosine_and_drops_stop_words() -> None:
    search = TfidfSearch(
        [10, 11, 12],
        ["Jaws a shark attacks", "Whale hunt: the white whale", "A quiet family drama"],
    )
    assert search.search("the whale", 5) == [11]  # "the" is an English stop word
    assert search.search("shark whale", 5) == [11, 10]  # "whale" twice in 11
    assert search.search("the of and", 5) == []


def test_item_knn_scores_by_summed_cosine_to_the_likes() -> None:
    likes = {"a": [1, 2], "b": [1, 2, 3], "c": [3, 4], "d": [2, 4]}
    knn = ItemKnn(likes, catalog=[1, 2, 3, 4, 5])
    case = Case("x", held_out=3, cutoff=0, train_likes=(1,), train_seen=frozenset({1}))
    hits = knn.recommend(case, 10)
    # cos(1,2) = 2/sqrt(2*3), cos(1,3) = 1/sqrt(2*2); 4 and 5 share no user with 1.
    assert [h.item_id for h in hits] == [2, 3]
    assert hits[0].score == pytest.approx(2 / 6**0.5)
    assert hits[1].score == pytest.approx(0.5)
    seen = Case("x", held_out=3, cutoff=0, train_likes=(1,), train_seen=frozenset({1, 2}))
    assert [h.item_id for h in knn.recommend(seen, 10)] == [3]
