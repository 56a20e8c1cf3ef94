"""Issue 11's targets outside the side-by-side run: the paths that keep asking Postgres
(filtered, title), the query encode overhead, the repeated query and the cold start."""

from __future__ import annotations

from typing import Any

from bench.bench_stats import is_run

FILTERED_P50_MS = 10.0  # c=1, every selectivity, single and combined filters
FILTERED_P99_MS = 40.0  # c=8
MIN_RECALL = 0.98
TITLE_P99_MS = 30.0
REPEATED_P50_MS = 1.5
ENCODE_OVERHEAD_MS = 2.0
COLD_START_S = 5.0

Row = tuple[str, str, str, str]


def _status(value: Any, ok: bool) -> str:
    return "not run" if value is None else ("**met**" if ok else "**not met**")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f} ms"


def _scenario(data: dict[str, Any], name: str, conc: int) -> dict[str, Any]:
    for s in (data.get("api") or {}).get("scenarios") or []:
        if s.get("name") == name and s.get("concurrency") == conc and is_run(s):
            return dict(s)
    return {}


def _pass(data: dict[str, Any], server: str, mode: str, conc: int) -> dict[str, Any]:
    for p in (data.get("peer") or {}).get("passes") or []:
        if (p.get("server"), p.get("mode"), p.get("concurrency")) == (server, mode, conc):
            return dict(p) if is_run(p) else {}
    return {}


def filtered_passes(data: dict[str, Any], conc: int) -> tuple[str, dict[str, dict[str, Any]]]:
    """The filtered scenarios at `conc`, by name, and the client that played them: wrk's
    passes (the side-by-side run) when it ran, else the API latency table's (bench_load)."""
    wrk = [
        p for p in (data.get("peer") or {}).get("filtered") or [] if p.get("concurrency") == conc
    ]
    if wrk:
        # A pass that did not run or had errors counts as missing: the target is then
        # "not run" rather than judged on the filters that did.
        clients = {str(p.get("client") or "wrk") for p in wrk if is_run(p)}
        return " + ".join(sorted(clients)) or "wrk", {
            p["name"]: dict(p) if is_run(p) and not p.get("errors") else {} for p in wrk
        }
    names = [
        s["name"]
        for s in (data.get("api") or {}).get("scenarios") or []
        if s.get("name", "").startswith("semantic_filtered_") and s.get("concurrency") == conc
    ]
    return "bench_load", {n: _scenario(data, n, conc) for n in names}


def _filtered(data: dict[str, Any], stat: str, conc: int, limit: float) -> Row:
    client, passes = filtered_passes(data, conc)
    got = {n.removeprefix("semantic_filtered_"): p.get(stat) for n, p in passes.items()}
    values = [v for v in got.values() if v is not None]
    worst = max(values) if values and len(values) == len(got) else None
    shown = ", ".join(f"{k} {_ms(v)}" for k, v in got.items()) or "-"
    if got:
        shown += f" ({client})"
    which = "p50, c=1" if conc == 1 else f"p99, c={conc}"
    return (
        f"filtered {which} (single and `+movie` combined filters)",
        f"<= {limit:g} ms",
        shown,
        _status(worst, worst is not None and worst <= limit),
    )


def _recall(data: dict[str, Any]) -> Row:
    """recall@10 averaged over each selectivity's queries (the issue's measure), judged at the
    worst selectivity; the single worst query is shown beside it."""
    by = ((data.get("baselines") or {}).get("rec_semantic") or {}).get("by_selectivity") or {}
    rows = [v for v in by.values() if isinstance(v, dict)]
    means = [v["recall_at_10"] for v in rows if v.get("recall_at_10") is not None]
    worst_query = min(
        (v["min_recall_at_10"] for v in rows if "min_recall_at_10" in v), default=None
    )
    low = min(means) if means and len(means) == len(rows) else None
    shown = "-" if low is None else f"{low:.3f}"
    if low is not None and worst_query is not None:
        shown += f" (worst single query {worst_query:.2f})"
    return (
        "filtered recall@10 (rec.semantic, mean per selectivity, the worst selectivity)",
        f">= {MIN_RECALL}",
        shown,
        _status(low, low is not None and low >= MIN_RECALL),
    )


def _recall_kinds(data: dict[str, Any]) -> Row:
    """The same measure for typed text and for titles (bench_baselines.recall_by_query): the
    near-item queries above are not the only kind people send, nor the hardest."""
    baselines = data.get("baselines") or {}
    kinds = baselines.get("recall_by_query") or {}
    labels = set((baselines.get("rec_semantic") or {}).get("by_selectivity") or {})
    worst: dict[str, float] = {}
    complete = bool(kinds)
    for kind, by in kinds.items():
        means = {k: v["recall_at_10"] for k, v in by.items() if isinstance(v, dict)}
        complete = complete and bool(means) and (not labels or labels <= set(means))
        if means:
            worst[kind] = min(means.values())
    low = min(worst.values()) if worst and complete else None
    shown = ", ".join(f"{kind} {value:.3f}" for kind, value in worst.items()) or "-"
    return (
        "rec.semantic recall@10 by kind of query (typed text, titles; the worst selectivity, "
        "unfiltered included)",
        f">= {MIN_RECALL}",
        shown,
        _status(low, low is not None and low >= MIN_RECALL),
    )


def _new_query(data: dict[str, Any]) -> Row:
    new = _pass(data, "pgrec_w1", "semantic_new", 1).get("p50_ms")
    bare = ((data.get("baselines") or {}).get("bare_encode") or {}).get("p50_ms")
    engines = ((data.get("embedding") or {}).get("query_encode_ms")) or {}
    api_encode = (engines.get("onnx 1 thread") or {}).get("p50")
    limit = None if bare is None else bare + ENCODE_OVERHEAD_MS
    shown = f"{_ms(new)} vs bare `encode` {_ms(bare)}"
    if api_encode is not None:
        shown += f" (the API's ONNX encoder alone: {_ms(api_encode)})"
    return (
        "semantic, new query, p50 c=1",
        "<= bare encode p50 + 2 ms",
        shown,
        _status(new if limit else None, new is not None and limit is not None and new <= limit),
    )


def _cold(data: dict[str, Any]) -> Row:
    fresh = (data.get("api") or {}).get("cold_start_s")
    mapped = (((data.get("peer") or {}).get("servers") or {}).get("pgrec_w1") or {}).get(
        "cold_start_s"
    )
    worst = None if fresh is None or mapped is None else max(fresh, mapped)
    return (
        "cold start to ready: read model built fresh / published one mapped",
        f"<= {COLD_START_S:g} s",
        f"{'-' if fresh is None else f'{fresh:.2f} s'} / "
        f"{'-' if mapped is None else f'{mapped:.2f} s'}",
        _status(worst, worst is not None and worst <= COLD_START_S),
    )


def targets(data: dict[str, Any]) -> list[Row]:
    repeated = _pass(data, "pgrec_w1", "semantic_repeated", 1).get("p50_ms")
    title = _scenario(data, "title", 1).get("p99_ms")
    return [
        (
            "semantic, repeated query, p50 c=1",
            f"<= {REPEATED_P50_MS:g} ms",
            _ms(repeated),
            _status(repeated, repeated is not None and repeated <= REPEATED_P50_MS),
        ),
        _new_query(data),
        _filtered(data, "p50_ms", 1, FILTERED_P50_MS),
        _filtered(data, "p99_ms", 8, FILTERED_P99_MS),
        _recall(data),
        _recall_kinds(data),
        (
            "title p99, c=1",
            f"<= {TITLE_P99_MS:g} ms",
            _ms(title),
            _status(title, title is not None and title <= TITLE_P99_MS),
        ),
        _cold(data),
    ]
