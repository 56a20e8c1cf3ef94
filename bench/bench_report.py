"""What `pgrec bench` writes: bench/REPORT.md, bench/report.json and bench/plots/*.png.

Every number comes from the run's report dict; the goals of issue 5 are checked against the
measured values here, and a part that did not run shows its reason instead of a number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.bench_stats import ratio

SECTIONS = (
    "Goals",
    "API latency",
    "Filtered retrieval",
    "Baselines and ratios",
    "Side by side with the classic design",
    "Scale",
    "Ingest and embedding",
    "Catalog build",
    "Plots",
    "Offline evaluation",
    "Run",
)


def _get(data: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def scenario(data: dict[str, Any], name: str, concurrency: int = 1) -> dict[str, Any]:
    for s in _get(data, "api", "scenarios") or []:
        if s["name"] == name and s["concurrency"] == concurrency:
            return dict(s)
    return {}


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def ratios(data: dict[str, Any]) -> dict[str, Any]:
    """Side-by-side ratios (x times the baseline); None where a side did not run."""
    faiss = _get(data, "baselines", "faiss", "p50_ms")
    encode = _get(data, "baselines", "bare_encode", "p50_ms")
    out: dict[str, Any] = {
        "api_item_to_item_vs_faiss": _r(ratio(scenario(data, "item_to_item").get("p50_ms"), faiss)),
        "api_semantic_cached_vs_faiss": _r(
            ratio(scenario(data, "semantic_cached").get("p50_ms"), faiss)
        ),
        "api_semantic_uncached_vs_bare_encode": _r(
            ratio(scenario(data, "semantic_uncached").get("p50_ms"), encode)
        ),
        "by_selectivity": {},
    }
    pg = _get(data, "baselines", "pgvector", "by_selectivity") or {}
    for label, rs in (_get(data, "baselines", "rec_semantic", "by_selectivity") or {}).items():
        p = pg.get(label, {})
        out["by_selectivity"][label] = {
            "rec_semantic_vs_faiss": _r(ratio(rs.get("p50_ms"), faiss)),
            "rec_semantic_vs_default_pgvector": _r(
                ratio(rs.get("p50_ms"), _get(p, "default_sql", "p50_ms"))
            ),
            "rec_semantic_vs_exact_scan": _r(
                ratio(rs.get("p50_ms"), _get(p, "exact_scan", "p50_ms"))
            ),
            "recall_rec_semantic_vs_default_pgvector": _r(
                ratio(rs.get("recall_at_10"), p.get("recall_at_10")), 3
            ),
        }
    return out


def _goal(
    goal: str, target: str, measured: str | None, met: bool | None, why: str = ""
) -> dict[str, Any]:
    status = "not run" if met is None else ("met" if met else "not met")
    return {
        "goal": goal,
        "target": target,
        "measured": measured if measured is not None else f"not run: {why}",
        "status": status,
    }


def _measured(
    goal: str,
    target: str,
    value: float | None,
    shown: Callable[[float], str],
    met: Callable[[float], bool | None],
    why: str,
) -> dict[str, Any]:
    """A goal on one measured value (None: not run), which `shown` formats and `met` judges."""
    if value is None:
        return _goal(goal, target, None, None, why)
    return _goal(goal, target, shown(value), met(value), why)


def goals(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals with the measured values and met / not met / not run."""
    main = _get(data, "config", "main_size")
    at40 = main == 40_000
    size_note = "" if at40 else f" (measured at {main} items, not 40k)"
    api_why = _get(data, "api", "reason") or "the API part did not run"

    def at_40k(goal: str, limit: float, unit: str, value: float | None) -> dict[str, Any]:
        """An API goal of at most `limit`, judged only on a 40k-item run."""
        shown = f"{value:.2f} {unit}{size_note}" if value is not None else None
        met = None if value is None or not at40 else value <= limit
        return _goal(goal, f"<= {limit:g} {unit}", shown, met, api_why)

    item_p50 = scenario(data, "item_to_item").get("p50_ms")
    return [  # in the order
        at_40k("item-to-item p50 over HTTP at 40k", 3, "ms", item_p50),
        _filtered_goal(data, size_note, api_why),
        _semantic_goal(data, api_why),
        _measured(
            "embedding pipeline vs plain encode call",
            ">= 1.5x",
            _get(data, "embedding", "speedup"),
            lambda speedup: f"{speedup:.2f}x",
            lambda speedup: speedup >= 1.5,
            _get(data, "embedding", "reason") or "no speedup reported",
        ),
        _measured(
            "ingest rows/s (bench/ingest.py, first load)",
            ">= 10k items/s",
            _get(data, "ingest", "first_load_items_per_s"),
            lambda rate: f"{rate:,.0f} items/s",
            lambda rate: rate >= 10_000,
            _get(data, "ingest", "reason") or "ingest did not run",
        ),
        at_40k("cold start to ready at 40k", 10, "s", _get(data, "api", "cold_start_s")),
        _ndcg_goal(data),
    ]


def _filtered_goal(data: dict[str, Any], size_note: str, api_why: str) -> dict[str, Any]:
    goal = "filtered recall@10 at every selectivity, with p50"
    target = ">= 0.98 and p50 <= 15 ms"
    rs = _get(data, "baselines", "rec_semantic", "by_selectivity") or {}
    filtered = {k: v for k, v in rs.items() if k != "100%"}
    if not filtered:
        return _goal(goal, target, None, None, "baselines did not run")
    lat = [scenario(data, f"semantic_filtered_{k}").get("p50_ms") for k in filtered]
    worst = min(v["recall_at_10"] for v in filtered.values())
    slow = max((x for x in lat if x is not None), default=None)
    shown = f"min recall@10 {worst:.3f} (rec.semantic, {len(filtered)} selectivities)"
    shown += f"; max API p50 {slow:.2f} ms" if slow is not None else "; API p50 not run"
    met = worst >= 0.98 and slow is not None and slow <= 15.0
    return _goal(goal, target, shown + size_note, met if slow is not None else None, api_why)


def _semantic_goal(data: dict[str, Any], api_why: str) -> dict[str, Any]:
    sem = scenario(data, "semantic_uncached").get("p50_ms")
    enc = _get(data, "baselines", "bare_encode", "p50_ms")
    limit = None if enc is None else 1.2 * enc + 2.0
    goal, target = "semantic text p50 (uncached) vs bare encode", "<= 1.2 x encode + 2 ms"
    if sem is None or limit is None:
        return _goal(goal, target, None, None, api_why)
    shown = f"{sem:.2f} ms vs limit {limit:.2f} ms (encode p50 {enc:.2f} ms)"
    return _goal(goal, target, shown, sem <= limit, api_why)


def _ndcg_goal(data: dict[str, Any]) -> dict[str, Any]:
    goal = "more-like-these and hybrid beat popularity on nDCG@10"
    ndcg = _get(data, "eval", "ndcg_at_10") or {}
    pop = ndcg.get("popularity")
    contenders = {k: v for k, v in ndcg.items() if k == "more-like-these" or "hybrid" in k}
    if pop is None or not contenders:
        why = _get(data, "eval", "reason") or "no nDCG@10 in bench/eval/eval.json"
        return _goal(goal, "> popularity", None, None, why)
    shown = ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in contenders.items())
    best_hybrid = max((v for k, v in contenders.items() if "hybrid" in k and v), default=None)
    mlt = contenders.get("more-like-these")
    met = mlt is not None and best_hybrid is not None and mlt > pop and best_hybrid > pop
    return _goal(goal, f"> popularity ({pop:.3f})", shown, met)
