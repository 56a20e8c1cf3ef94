"""Reciprocal Rank Fusion of ranked lists (hybrid mode), keeping each list's rank and score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from db.recs import Hit

RRF_K = 60


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
    """sum over lists of w / (k + rank) (w = 1 unless weighted); ties go to the better best
    rank, then the lower id."""
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
