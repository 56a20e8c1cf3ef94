"""Re-ranking: boosts, MMR diversity and group caps are pure functions of the candidates."""

from __future__ import annotations

import numpy as np
import pytest

from api.rerank import (
    Candidate,
    RerankOptions,
    freshness_scores,
    normalise,
    popularity_scores,
    rerank,
)

NOW = 2024


def _ids(ranked: list) -> list[int]:  # type: ignore[type-arg]
    return [r.item_id for r in ranked]


def test_normalise_is_relative_to_the_best() -> None:
    assert normalise([4.0, 1.0, 2.0]) == [1.0, 0.25, 0.5]
    assert normalise([0.5, 0.5]) == [1.0, 1.0]
    assert normalise([0.8, -0.3]) == [1.0, 0.0]  # negative cosine: no relevance
    assert normalise([-1.0, -3.0]) == [1.0, 0.0]  # nothing positive: min-max
    assert normalise([-2.0, -2.0]) == [1.0, 1.0]
    assert normalise([]) == []


def test_freshness_halves_every_half_life_and_ignores_unknown_years() -> None:
    got = freshness_scores([NOW, NOW - 8, None, NOW + 3], now_year=NOW, half_life=8)
    assert got == pytest.approx([1.0, 0.5, 0.0, 1.0])


def test_popularity_is_relative_log_scale() -> None:
    got = popularity_scores([0.0, 9.0, 99.0, -5.0])
    assert got[2] == 1.0 and got[0] == 0.0 and got[3] == 0.0
    assert 0 < got[1] < 1
    assert popularity_scores([0.0, 0.0]) == [0.0, 0.0]


def test_defaults_keep_retrieval_order_and_cut_to_n() -> None:
    cands = [Candidate(i, 1.0 - i / 10) for i in range(6)]
    ranked = rerank(cands, n=4, options=RerankOptions(), now_year=NOW)
    assert _ids(ranked) == [0, 1, 2, 3]
    assert ranked[0].relevance == 1.0 and ranked[0].redundancy == 0.0
    assert not RerankOptions().active


def test_ties_keep_retrieval_order() -> None:
    cands = [Candidate(i, 0.5) for i in (7, 3, 9)]
    assert _ids(rerank(cands, n=3, options=RerankOptions(), now_year=NOW)) == [7, 3, 9]


def test_freshness_boost_lifts_recent_items() -> None:
    cands = [Candidate(1, 1.0, year=1980), Candidate(2, 0.9, year=NOW), Candidate(3, 0.0, year=NOW)]
    plain = rerank(cands, n=3, options=RerankOptions(), now_year=NOW)
    boosted = rerank(cands, n=3, options=RerankOptions(freshness=1.0), now_year=NOW)
    assert _ids(plain) == [1, 2, 3]
    assert _ids(boosted)[0] == 2
    assert boosted[0].freshness == 1.0


def test_popularity_boost_lifts_popular_items() -> None:
    cands = [Candidate(1, 1.0, popularity=0), Candidate(2, 0.95, popularity=1000)]
    ranked = rerank(cands, n=2, options=RerankOptions(popularity=0.5), now_year=NOW)
    assert _ids(ranked) == [2, 1]
    # A small boost does not overturn a large relevance gap.
    far = [Candidate(1, 1.0, popularity=0), Candidate(2, 0.2, popularity=1000)]
    assert _ids(rerank(far, n=2, options=RerankOptions(popularity=0.2), now_year=NOW)) == [1, 2]


def test_mmr_diversity_skips_near_duplicates() -> None:
    a = np.array([1.0, 0.0, 0.0])
    b = np.array([0.0, 1.0, 0.0])
    vectors = np.stack([a, a * 0.99 + b * 0.01, b])
    cands = [Candidate(1, 1.0), Candidate(2, 0.99), Candidate(3, 0.5)]
    plain = rerank(cands, n=2, options=RerankOptions(), now_year=NOW, vectors=vectors)
    diverse = rerank(
        cands, n=2, options=RerankOptions(diversity=0.7), now_year=NOW, vectors=vectors
    )
    assert _ids(plain) == [1, 2]
    assert _ids(diverse) == [1, 3]
    assert diverse[1].redundancy == pytest.approx(0.0, abs=1e-6)


def test_mmr_full_diversity_still_picks_the_best_first() -> None:
    vectors = np.eye(3)
    cands = [Candidate(1, 0.2), Candidate(2, 0.9), Candidate(3, 0.1)]
    ranked = rerank(cands, n=3, options=RerankOptions(diversity=1.0), now_year=NOW, vectors=vectors)
    assert ranked[0].item_id in {1, 2, 3} and len(ranked) == 3


def test_missing_vectors_count_as_no_redundancy() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    cands = [Candidate(1, 1.0), Candidate(2, 0.9), Candidate(3, 0.8)]
    ranked = rerank(cands, n=3, options=RerankOptions(diversity=0.5), now_year=NOW, vectors=vectors)
    assert _ids(ranked) == [1, 2, 3]
    assert ranked[2].redundancy == pytest.approx(1.0)


def test_group_cap_limits_each_group_and_may_return_fewer() -> None:
    cands = [
        Candidate(1, 1.0, group="Movie"),
        Candidate(2, 0.9, group="Movie"),
        Candidate(3, 0.8, group="Movie"),
        Candidate(4, 0.7, group="TV Show"),
        Candidate(5, 0.6, group=None),
    ]
    options = RerankOptions(group_by="kind", group_cap=2)
    assert options.active
    assert _ids(rerank(cands, n=10, options=options, now_year=NOW)) == [1, 2, 4, 5]
    one = RerankOptions(group_by="kind", group_cap=1)
    assert _ids(rerank(cands, n=2, options=one, now_year=NOW)) == [1, 4]


def test_group_cap_is_ignored_without_group_by() -> None:
    cands = [Candidate(1, 1.0, group="a"), Candidate(2, 0.9, group="a")]
    assert _ids(rerank(cands, n=2, options=RerankOptions(group_cap=1), now_year=NOW)) == [1, 2]


def test_empty_and_zero() -> None:
    assert rerank([], n=5, options=RerankOptions(), now_year=NOW) == []
    assert rerank([Candidate(1, 1.0)], n=0, options=RerankOptions(), now_year=NOW) == []


def test_scores_on_any_scale() -> None:
    cands = [Candidate(1, -0.2), Candidate(2, -0.5), Candidate(3, 40.0)]
    ranked = rerank(cands, n=3, options=RerankOptions(freshness=0.1), now_year=NOW)
    assert _ids(ranked) == [3, 1, 2]
    assert all(0.0 <= r.boosted <= 1.0 for r in ranked)


@pytest.mark.parametrize("seed", range(5))
def test_the_one_sort_path_picks_what_the_greedy_loop_picks(seed: int) -> None:
    """Without diversity vectors or a binding cap the objective is fixed: the single sort
    (no group_by) must equal the greedy loop (a cap no group reaches), ties included."""
    rng = np.random.default_rng(seed)
    cands = [
        Candidate(
            item_id=i,
            relevance=float(rng.choice([0.9, 0.5, 0.5, 0.2])),  # ties on purpose
            year=int(rng.integers(1990, NOW + 1)) if rng.random() > 0.2 else None,
            popularity=float(rng.integers(0, 100)),
            group="same",
        )
        for i in range(30)
    ]
    for opts in (
        RerankOptions(),
        RerankOptions(freshness=0.4, popularity=0.3),
        RerankOptions(diversity=0.5, popularity=0.2),  # no vectors: redundancy stays 0
    ):
        fast = rerank(cands, n=12, options=opts, now_year=NOW)
        loop = rerank(
            cands,
            n=12,
            options=RerankOptions(
                diversity=opts.diversity,
                freshness=opts.freshness,
                popularity=opts.popularity,
                group_by="kind",
                group_cap=100,
            ),
            now_year=NOW,
        )
        assert fast == loop
        assert len(fast) == 12
