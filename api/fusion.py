"""Fusion of ranked lists (weighted RRF, weighted sums of min-max normalised scores, CombMNZ,
pseudo-relevance feedback), keeping each list's rank and score.

Pure functions over ranked lists: the hybrid text mode (semantic + terms + title) and
more-like-these (vector centroid + "people who liked these also liked") fuse with them. The
weights and constants below were chosen on the tuning half of the judged queries and on the
validation users of `pgrec eval` (bench/eval_text.py, bench/eval_users.py), never on what it
reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from db.recs import Hit

RRF_K = 60


@dataclass(frozen=True)
class Feedback:
    seeds: int
    beta: float
    depth: int
    alpha: float


# Hybrid text mode (chosen on the tuning half): how lists are fused first ("rrf", "scores" or
# "mnz"), each list's depth, the per-mode weights and the RRF constant.
HYBRID_METHOD = "rrf"
HYBRID_DEPTH = 30
HYBRID_K = 20
HYBRID_WEIGHTS: Mapping[str, float] = {"semantic": 1.0, "terms": 3.0, "title": 0.0}
# Then pseudo-relevance feedback on that first pass (None: the first pass is the answer): the
# query's vector moved toward the centroid of the first pass's `seeds` best items (`beta` x
# the centroid's direction), and terms' `depth` best re-ranked by `alpha` x their normalised
# score + (1 - alpha) x their normalised cosine to that vector.
HYBRID_FEEDBACK: Feedback | None = Feedback(seeds=10, beta=4.0, depth=20, alpha=0.5)
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


Vectors = Callable[[Sequence[int]], Mapping[int, np.ndarray]]  # item id -> vector, some ids


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _minmax(values: Mapping[int, float]) -> dict[int, float]:
    low, high = min(values.values()), max(values.values())
    return {i: 1.0 if high <= low else (v - low) / (high - low) for i, v in values.items()}


def feedback(
    first: Sequence[Fused],
    terms: Sequence[Hit],
    query: np.ndarray,
    vectors: Vectors,
    how: Feedback,
) -> list[Fused]:
    """Rocchio-style pseudo-relevance feedback: the unit query vector plus `how.beta` x the
    unit centroid of the first pass's `how.seeds` best items; terms' `how.depth` best are
    ranked by alpha x min-max(terms score) + (1 - alpha) x min-max(cosine to that vector),
    then the rest of `first` in its order (scores below). `modes["feedback"]` holds each
    re-ranked item's cosine and its rank by it (an item without a vector gets the lowest).
    Without terms hits, or without vectors for the seeds: `first`."""
    pool = list(dict.fromkeys(h.item_id for h in terms[: how.depth]))
    seeds = [f.item_id for f in first[: how.seeds]]
    found = {i: _unit(np.asarray(v, np.float64)) for i, v in vectors([*seeds, *pool]).items()}
    if not pool or not any(i in found for i in seeds):
        return list(first)
    centroid = np.mean([found[i] for i in seeds if i in found], axis=0)
    moved = _unit(_unit(np.asarray(query, np.float64)) + how.beta * _unit(centroid))
    known = {i: float(found[i] @ moved) for i in pool if i in found}
    lowest = min(known.values(), default=0.0)
    cosine = {i: known.get(i, lowest) for i in pool}
    bm25 = _minmax({h.item_id: h.score for h in reversed(terms[: how.depth])})
    near = _minmax(cosine)
    score = {i: how.alpha * bm25[i] + (1 - how.alpha) * near[i] for i in pool}
    by_cosine = {i: n for n, i in enumerate(sorted(pool, key=lambda i: (-cosine[i], i)), 1)}
    modes = {f.item_id: f.modes for f in first}
    ranked = [
        Fused(i, score[i], {**modes.get(i, {}), "feedback": ModeRank(by_cosine[i], cosine[i])})
        for i in sorted(pool, key=lambda i: (-score[i], by_cosine[i], i))
    ]
    # The rest keeps its order below the re-ranked items: scaled to at most half the lowest.
    floor, top = min(score.values()), max((f.score for f in first), default=0.0)
    rest = [f for f in first if f.item_id not in score]
    scale = floor / (2 * top) if top > 0 else 0.0
    return ranked + [Fused(f.item_id, f.score * scale, f.modes) for f in rest]


def hybrid_depth() -> int:
    """How deep each list the hybrid reads is fetched: the first pass's and feedback's depth."""
    return max(HYBRID_DEPTH, HYBRID_FEEDBACK.depth if HYBRID_FEEDBACK else 0)


def hybrid(
    lists: Mapping[str, Sequence[Hit]],
    weights: Mapping[str, float] | None = None,
    *,
    query: np.ndarray | None = None,
    vectors: Vectors | None = None,
) -> list[Fused]:
    """The hybrid text mode: semantic, terms and title (when it matched), each HYBRID_DEPTH
    deep, fused as chosen on the tuning half (then feedback, given the query's vector and a
    way to read items' vectors); an A/B variant's `weights` override those."""
    chosen = {**HYBRID_WEIGHTS, **(weights or {})}
    if HYBRID_METHOD == "scores":
        first = normalized(lists, weights=chosen)
    elif HYBRID_METHOD == "mnz":
        first = comb_mnz(lists, weights=chosen)
    else:
        first = rrf(lists, k=HYBRID_K, weights=chosen)
    if HYBRID_FEEDBACK is None or query is None or vectors is None:
        return first
    return feedback(first, lists.get("terms", ()), query, vectors, HYBRID_FEEDBACK)


def more_like(vector: Sequence[Hit], also_liked: Sequence[Hit]) -> list[Fused]:
    """More-like-these: the vector centroid's list blended with the co-occurrence list."""
    lists = {"vector": vector, "also_liked": also_liked}
    return rrf(lists, k=MORE_LIKE_K, weights=MORE_LIKE_WEIGHTS)
