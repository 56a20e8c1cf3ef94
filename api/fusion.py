"""Fusion of ranked lists (weighted RRF, weighted sums of min-max normalised scores, CombMNZ),
keeping each list's rank and score.

Pure functions over ranked lists: the hybrid text mode (semantic + terms + title) and
more-like-these (vector centroid + "people who liked these also liked") fuse with them. The
weights and constants below were chosen on the tuning half of the judged queries and on the
validation users of `pgrec eval` (bench/eval_text.py, bench/eval_users.py), never on what it
reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from db.recs import Hit

RRF_K = 60

# Hybrid text mode (chosen on the tuning half): how lists are fused ("rrf", "scores" or
# "mnz"),
# each list's depth, the per-mode weights and the RRF constant.
HYBRID_METHOD = "rrf"
HYBRID_DEPTH = 30
HYBRID_K = 20
HYBRID_WEIGHTS: Mapping[str, float] = {"semantic": 1.0, "terms": 3.0, "title": 0.0}
# More-like-these: weight of "also liked" (co-occurrence) against the vector centroid (1.0),
# chosen on the validation users (each user's second-to-last liked item).
MORE_LIKE_K = 10
MORE_LIKE_WEIGHTS: Mapping[str, float] = {"vector": 1.0, "also_liked": 8.0}


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


Contribution = Callable[[Sequence[Hit], int, Hit], float]


def _fuse(
    lists: Mapping[str, Sequence[Hit]],
    weights: Mapping[str, float] | None,
    contribution: Contribution,
) -> list[Fused]:
    """Weighted sum of each list's contribution(list, rank, hit); ties go to the better best
    rank, then the lower id. A list of weight 0 still shows its ranks in `modes`."""
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
            gain = weight * contribution(hits, rank, hit)
            scores[hit.item_id] = scores.get(hit.item_id, 0.0) + gain

    def key(item_id: int) -> tuple[float, int, int]:
        best = min(r.rank for r in modes[item_id].values())
        return (-scores[item_id], best, item_id)

    return [Fused(i, scores[i], modes[i]) for i in sorted(scores, key=key)]


def rrf(
    lists: Mapping[str, Sequence[Hit]],
    *,
    k: int = RRF_K,
    weights: Mapping[str, float] | None = None,
) -> list[Fused]:
    """sum over lists of weight / (k + rank) (weight 1 unless given)."""
    return _fuse(lists, weights, lambda hits, rank, hit: 1.0 / (k + rank))


def normalized(
    lists: Mapping[str, Sequence[Hit]], *, weights: Mapping[str, float] | None = None
) -> list[Fused]:
    """sum over lists of weight x the score min-max normalised within its list (the list's
    best 1, its worst 0; a list of equal scores gives 1): scales differ (cosine, BM25)."""
    bounds = {
        id(hits): (min(h.score for h in hits), max(h.score for h in hits))
        for hits in lists.values()
        if hits
    }

    def contribution(hits: Sequence[Hit], rank: int, hit: Hit) -> float:
        low, high = bounds[id(hits)]
        return 1.0 if high <= low else (hit.score - low) / (high - low)

    return _fuse(lists, weights, contribution)


def comb_mnz(
    lists: Mapping[str, Sequence[Hit]], *, weights: Mapping[str, float] | None = None
) -> list[Fused]:
    """CombMNZ: `normalized`'s sum times the number of lists (of weight > 0) that hold the
    item, so agreement between modes counts beyond the scores themselves."""
    fused = normalized(lists, weights=weights)
    weight = {m: 1.0 if weights is None else weights.get(m, 1.0) for m in lists}

    def votes(f: Fused) -> int:
        return sum(1 for m in f.modes if weight[m] > 0)

    def key(f: Fused) -> tuple[float, int, int]:
        return (-f.score * votes(f), min(r.rank for r in f.modes.values()), f.item_id)

    return [Fused(f.item_id, f.score * votes(f), f.modes) for f in sorted(fused, key=key)]


def hybrid(
    lists: Mapping[str, Sequence[Hit]], weights: Mapping[str, float] | None = None
) -> list[Fused]:
    """The hybrid text mode: semantic, terms and title (when it matched), each HYBRID_DEPTH
    deep, fused as chosen on the tuning half; an A/B variant's `weights` override those."""
    chosen = {**HYBRID_WEIGHTS, **(weights or {})}
    if HYBRID_METHOD == "scores":
        return normalized(lists, weights=chosen)
    if HYBRID_METHOD == "mnz":
        return comb_mnz(lists, weights=chosen)
    return rrf(lists, k=HYBRID_K, weights=chosen)


def more_like(vector: Sequence[Hit], also_liked: Sequence[Hit]) -> list[Fused]:
    """More-like-these: the vector centroid's list blended with the co-occurrence list."""
    lists = {"vector": vector, "also_liked": also_liked}
    return rrf(lists, k=MORE_LIKE_K, weights=MORE_LIKE_WEIGHTS)
