"""Re-ranking of a candidate list: freshness and popularity boosts, MMR diversity, group caps.

Pure functions over plain values, so every list the API returns goes through the same code
and the unit tests need neither a database nor a model. Scores of different modes live on
different scales (cosine, ts_rank_cd, RRF), so relevance is taken relative to the best
candidate, in [0, 1], before boosts are added; an un-boosted list keeps its order.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

# A year this many years old gets half the freshness of a current one.
FRESHNESS_HALF_LIFE_YEARS = 8.0


@dataclass(frozen=True)
class RerankOptions:
    """What the caller asked for: weights in [0, 1] and an optional per-group cap."""

    diversity: float = 0.0
    freshness: float = 0.0
    popularity: float = 0.0
    group_by: str | None = None
    group_cap: int = 1

    @property
    def active(self) -> bool:
        return bool(self.diversity or self.freshness or self.popularity or self.group_by)


@dataclass(frozen=True)
class Candidate:
    """One retrieved item, in retrieval order; `relevance` is the mode's score."""

    item_id: int
    relevance: float
    year: int | None = None
    popularity: float = 0.0
    group: Hashable = None


@dataclass(frozen=True)
class Ranked:
    """A chosen item with the components of its re-ranking score (shown by explain=true)."""

    item_id: int
    relevance: float  # normalised retrieval score
    freshness: float
    popularity: float
    boosted: float  # relevance + weighted boosts, scaled back to [0, 1]
    redundancy: float  # max cosine to the items chosen before it (0 without diversity)
    final: float  # (1 - diversity) * boosted - diversity * redundancy


def normalise(scores: Sequence[float]) -> list[float]:
    """Each score as a fraction of the best one, clipped to [0, 1].

    A ratio, not min-max: two close scores stay close (min-max would stretch 0.95 vs 1.0 to
    0 vs 1 and let any boost overturn it). When no score is positive, min-max instead.
    """
    if not scores:
        return []
    finite = [s if math.isfinite(s) else 0.0 for s in scores]
    low, high = min(finite), max(finite)
    if high > 0:
        return [min(1.0, max(0.0, s / high)) for s in finite]
    if high - low <= 1e-12:
        return [1.0 for _ in finite]
    return [(s - low) / (high - low) for s in finite]


def freshness_scores(
    years: Sequence[int | None], *, now_year: int, half_life: float = FRESHNESS_HALF_LIFE_YEARS
) -> list[float]:
    """1 for this year (or later), halving every `half_life` years; unknown year -> 0."""
    return [0.0 if y is None else 0.5 ** (max(0, now_year - y) / half_life) for y in years]


def popularity_scores(popularity: Sequence[float]) -> list[float]:
    """log1p(popularity) relative to the most popular candidate, in [0, 1]."""
    logs = [math.log1p(max(0.0, p)) if math.isfinite(p) else 0.0 for p in popularity]
    top = max(logs, default=0.0)
    return [v / top if top > 0 else 0.0 for v in logs]


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit


def rerank(
    candidates: Sequence[Candidate],
    *,
    n: int,
    options: RerankOptions,
    now_year: int,
    vectors: np.ndarray | None = None,
) -> list[Ranked]:
    """Pick up to `n` candidates greedily by MMR over boosted relevance, honouring group caps.

    `vectors` has one row per candidate (zeros where unknown) and is only read when
    `options.diversity` > 0. With every option at its default this is the identity on the
    first `n` candidates.
    """
    if n <= 0 or not candidates:
        return []
    rel = normalise([c.relevance for c in candidates])
    fresh = freshness_scores([c.year for c in candidates], now_year=now_year)
    pop = popularity_scores([c.popularity for c in candidates])
    scale = 1.0 + options.freshness + options.popularity
    boosted = np.array(
        [
            (r + options.freshness * f + options.popularity * p) / scale
            for r, f, p in zip(rel, fresh, pop, strict=True)
        ],
        dtype=np.float64,
    )
    d = options.diversity
    unit = None
    if d > 0 and vectors is not None and len(vectors) == len(candidates):
        unit = _unit_rows(np.asarray(vectors, dtype=np.float32))
    redundancy = np.zeros(len(candidates), dtype=np.float64)
    free = np.ones(len(candidates), dtype=bool)
    taken: dict[Hashable, int] = {}
    cap = options.group_cap if options.group_by else None
    out: list[Ranked] = []
    if unit is None and cap is None:  # the objective never changes: one sort decides
        objective = (1.0 - d) * boosted
        order = np.lexsort((np.arange(len(candidates)), -objective))[:n]
        return [
            _ranked(candidates[i], rel, fresh, pop, boosted, redundancy, objective, i)
            for i in (int(j) for j in order)
        ]
    while len(out) < n:
        objective = (1.0 - d) * boosted - d * redundancy
        order = np.lexsort((np.arange(len(candidates)), -objective))  # stable on ties
        pick = next((int(i) for i in order if free[i] and _room(candidates[i], taken, cap)), None)
        if pick is None:
            break
        free[pick] = False
        cand = candidates[pick]
        taken[cand.group] = taken.get(cand.group, 0) + 1
        out.append(_ranked(cand, rel, fresh, pop, boosted, redundancy, objective, pick))
        if unit is not None:
            redundancy = np.maximum(redundancy, unit @ unit[pick])
    return out


def _ranked(
    cand: Candidate,
    rel: list[float],
    fresh: list[float],
    pop: list[float],
    boosted: np.ndarray,
    redundancy: np.ndarray,
    objective: np.ndarray,
    i: int,
) -> Ranked:
    return Ranked(
        item_id=cand.item_id,
        relevance=rel[i],
        freshness=fresh[i],
        popularity=pop[i],
        boosted=float(boosted[i]),
        redundancy=float(redundancy[i]),
        final=float(objective[i]),
    )


def _room(cand: Candidate, taken: dict[Hashable, int], cap: int | None) -> bool:
    return cap is None or taken.get(cand.group, 0) < cap
