"""Paired bootstrap intervals of a ratio of two systems' means over the same judged queries.

The hybrid's goal is a ratio (>= 1.05x the best single mode) on the report half of a small
judged set; the interval says whether that set can tell such a ratio from noise at all.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

RESAMPLES = 2000
SEED = 0


def ratio_ci95(
    mine: Sequence[float], base: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float, float] | None:
    """The 2.5th and 97.5th percentiles of mean(mine) / mean(base) over query resamples
    (the same queries drawn for both); None without queries or when base's mean can be 0."""
    if len(mine) != len(base):
        raise ValueError("paired values: both lists need one value per query")
    n = len(mine)
    if n == 0:
        return None
    rng = random.Random(seed)
    ratios: list[float] = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        b = sum(base[i] for i in picks)
        if b <= 0:
            return None
        ratios.append(sum(mine[i] for i in picks) / b)
    ratios.sort()
    return ratios[int(0.025 * resamples)], ratios[min(resamples - 1, int(0.975 * resamples))]


def per_query(mode: dict[str, object], key: str) -> dict[str, float]:
    """query text -> its P@10 (`precision`) or nDCG@10 (`ndcg`) in one mode's report row."""
    rows = mode.get("per_query") or []
    if not isinstance(rows, list | tuple):  # a tuple in the run, a list once read from JSON
        raise TypeError(f"per_query of {mode.get('mode')!r} is not a list")
    return {str(r["query"]): float(r[key]) for r in rows}


def paired_ratio(hybrid: dict[str, object], best: dict[str, object], key: str) -> str:
    """'; 95% CI a-b' of hybrid / best over the queries both answered, or '' without data."""
    h, b = per_query(hybrid, key), per_query(best, key)
    common = sorted(set(h) & set(b))
    ci = ratio_ci95([h[q] for q in common], [b[q] for q in common])
    return "" if ci is None else f"; 95% CI {ci[0]:.2f}-{ci[1]:.2f}x"
