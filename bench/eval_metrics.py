"""Offline relevance metrics: pure functions of ranked lists, no database, no model.

Conventions: ranks are 1-based; a "list" is the ids a system returned, best first, already
cut to the evaluation depth by the caller (or by `k`). Every metric of a set of lists is the
mean over lists, so each user (or query) weighs the same.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np

K = 10


def rank_of(ranked: Sequence[int], target: int, k: int = K) -> int | None:
    """1-based rank of `target` within the first `k` of `ranked`, None when absent."""
    for rank, item in enumerate(ranked[:k], start=1):
        if item == target:
            return rank
    return None


def hit_rate(ranked: Sequence[int], target: int, k: int = K) -> float:
    """HR@k of one user: 1 when the held-out item is in the first k, else 0."""
    return 1.0 if rank_of(ranked, target, k) is not None else 0.0


def ndcg_single(ranked: Sequence[int], target: int, k: int = K) -> float:
    """nDCG@k with one relevant item: 1 / log2(rank + 1) (the ideal DCG is 1)."""
    rank = rank_of(ranked, target, k)
    return 0.0 if rank is None else 1.0 / math.log2(rank + 1)


def precision(ranked: Sequence[int], relevant: Collection[int], k: int = K) -> float:
    """P@k: relevant items among the first k, divided by k (a short list is not rewarded)."""
    return sum(1 for item in ranked[:k] if item in relevant) / k


def ndcg_graded(ranked: Sequence[int], grades: Mapping[int, float], k: int = K) -> float:
    """nDCG@k with graded judgements (linear gain grade / log2(rank + 1)); 0 if none relevant."""
    dcg = sum(grades.get(item, 0.0) / math.log2(r + 1) for r, item in enumerate(ranked[:k], 1))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(r + 1) for r, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def coverage(lists: Iterable[Sequence[int]], catalog_size: int, k: int = K) -> float:
    """Catalog coverage: distinct items recommended over all lists / catalog size."""
    if catalog_size <= 0:
        raise ValueError("catalog_size must be positive")
    return len({item for ranked in lists for item in ranked[:k]}) / catalog_size


def intra_list_diversity(vectors: np.ndarray) -> float | None:
    """Mean pairwise (1 - cosine) of one list's item vectors; None for fewer than 2 items."""
    n = len(vectors)
    if n < 2:
        return None
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms == 0.0, 1.0, norms)
    cosines = unit @ unit.T
    upper = cosines[np.triu_indices(n, k=1)]
    return float(np.mean(1.0 - upper))


def novelty(ranked: Sequence[int], share: Mapping[int, float], k: int = K) -> float | None:
    """Mean self-information -log2(popularity share) of a list's items; None for an empty list.

    `share` maps every catalog item to a probability in (0, 1]; see `popularity_share`.
    """
    items = ranked[:k]
    if not items:
        return None
    return sum(-math.log2(share[item]) for item in items) / len(items)


def popularity_share(
    users_per_item: Mapping[int, int], catalog: Iterable[int], n_users: int
) -> dict[int, float]:
    """Share of users who interacted with each item, add-one smoothed: (n_i + 1) / (U + 1).

    The smoothing keeps never-seen items finite (they get the highest novelty,
    log2(U + 1)) and an item every user saw gets 0.
    """
    return {item: (users_per_item.get(item, 0) + 1) / (n_users + 1) for item in catalog}


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the defined values; None when there are none."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def ci95(values: Sequence[float]) -> float:
    """Half-width of the normal-approximation 95% interval of the mean of `values`."""
    n = len(values)
    if n < 2:
        return 0.0
    return 1.96 * float(np.std(values, ddof=1)) / math.sqrt(n)
