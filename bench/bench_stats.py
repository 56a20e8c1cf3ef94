"""Pure helpers of `pgrec bench`: percentiles, ratios, recall, and "not run" placeholders.

No database, no network: the report and the tests build on these alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeGuard

PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100) by linear interpolation between ranks; None when empty."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """count, mean and p50/p95/p99 in milliseconds of per-call durations in seconds."""
    ms = [s * 1000.0 for s in seconds]
    out: dict[str, float | int | None] = {"count": len(ms)}
    out["mean_ms"] = _round(sum(ms) / len(ms)) if ms else None
    for p in PERCENTILES:
        out[f"p{p}_ms"] = _round(percentile(ms, p))
    return out


def ratio(value: float | None, base: float | None) -> float | None:
    """value / base, None when either is missing or the base is not positive."""
    if value is None or base is None or base <= 0:
        return None
    return value / base


def recall_at_k(found: Sequence[int], exact: Sequence[int], k: int = 10) -> float:
    """Share of the exact top-k that the answer's top-k holds (1.0 when nothing matches)."""
    truth = list(exact)[:k]
    if not truth:
        return 1.0
    return len(set(found[:k]) & set(truth)) / len(truth)


def mean(values: Iterable[float]) -> float | None:
    seq = list(values)
    return sum(seq) / len(seq) if seq else None


def not_run(reason: str) -> dict[str, Any]:
    """The placeholder of a part that could not run: never a number in its place."""
    return {"status": "not run", "reason": reason}


def is_run(part: Any) -> TypeGuard[dict[str, Any]]:
    """False for a `not_run` placeholder (or nothing at all)."""
    return isinstance(part, dict) and part.get("status") != "not run"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
