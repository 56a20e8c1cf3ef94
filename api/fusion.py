"""Weighted Reciprocal Rank Fusion of ranked lists, keeping each list's rank and score.

Pure functions over ranked lists: the hybrid text mode (semantic + terms + title) and
more-like-these (vector centroid + "people who liked these also liked") fuse with them. The
weights and constants below were chosen on the tuning half of the judged queries and on the
validation users of `pgrec eval` (bench/eval_tuning.py), never on what it reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from db.recs import Hit

RRF_K = 60

# Hybrid text mode: per-mode weights and RRF constant (bench/eval_tuning.py, tuning half).
HYBRID_K = 60
HYBRID_WEIGHTS: Mapping[str, float] = {"semantic": 1.0, "terms": 1.0, "title": 1.0}
# More-like-these: weight of "also liked" (co-occurrence) against the vector centroid (1.0),
# chosen on the validation users (each user's second-to-last liked item).
MORE_LIKE_K = 60
MORE_LIKE_WEIGHTS: Mapping[str, float] = {"vector": 1.0, "also_liked": 1.0}


@dataclass(frozen=True)
class ModeRank:
    rank: int  # 1-based
    score: float


@dataclass(frozen=True)
class Fused:
    """An item with its fused score and where it stood in each list that returned it."""

    item_id: int
    score: float
    modes: dict[str, ModeRank] = field(default_factory=dict)


def single(mode: str, hits: Sequence[Hit]) -> list[Fused]:
    """One mode's list in the same shape as a fused one (score = the mode's score)."""
    return [
        Fused(h.item_id, h.score, {mode: ModeRank(rank, h.score)})
        for rank, h in enumerate(hits, start=1)
    ]


def rrf(
    lists: Mapping[str, Sequence[Hit]],
    *,
    k: int = RRF_K,
    weights: Mapping[str, float] | None = None,
) -> list[Fused]:
    """sum over lists of weight / (k + rank) (weight 1 unless given); ties go to the better
    best rank, then the lower id. A list of weight 0 still shows its ranks in `modes`."""
    modes: dict[int, dict[str, ModeRank]] = {}
    scores: dict[int, float] = {}
    for mode, hits in lists.items():
        weight = 1.0 if weights is None else weights.get(mode, 1.0)
        seen: set[int] = set()
        for rank, hit in enumerate(hits, start=1):
            if hit.item_id in seen:  # a list repeating an item counts it once, at its best
                continue
            seen.add(hit.item_id)
            modes.setdefault(hit.item_id, {})[mode] = ModeRank(rank, hit.score)
            scores[hit.item_id] = scores.get(hit.item_id, 0.0) + weight / (k + rank)

    def key(item_id: int) -> tuple[float, int, int]:
        best = min(r.rank for r in modes[item_id].values())
        return (-scores[item_id], best, item_id)

    return [Fused(i, scores[i], modes[i]) for i in sorted(scores, key=key)]


def hybrid(lists: Mapping[str, Sequence[Hit]]) -> list[Fused]:
    """The hybrid text mode: weighted RRF of semantic, terms and title (when it matched)."""
    return rrf(lists, k=HYBRID_K, weights=HYBRID_WEIGHTS)


def more_like(vector: Sequence[Hit], also_liked: Sequence[Hit]) -> list[Fused]:
    """More-like-these: the vector centroid's list blended with the co-occurrence list."""
    lists = {"vector": vector, "also_liked": also_liked}
    return rrf(lists, k=MORE_LIKE_K, weights=MORE_LIKE_WEIGHTS)
