"""bench/REPORT.md from the report dict, plus the JSON and plots beside it (`write`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench import bench_plots, peer_report, scale_report
from bench.bench_report import SECTIONS, _get, scenario
from bench.bench_stats import is_run


def _n(value: Any, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    return str(value)


def _mib(value: Any) -> str:
    return "-" if value is None else f"{value / 2**20:,.1f} MiB"


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _heads(header: str) -> tuple[str, ...]:
    """Column heads written as the table's header line reads: "a | b | c"."""
    return tuple(header.split(" | "))


def _not_run(part: Any) -> str:
    reason = part.get("reason") if isinstance(part, dict) else "missing"
    return f"_not run: {reason}_"


def _goals(data: dict[str, Any]) -> list[str]:
    rows = [(g["goal"], g["target"], g["measured"], f"**{g['status']}**") for g in data["goals"]]
    return _table(("goal (issue 5)", "target", "measured", "status"), rows)


def _latency_head(concurrency: int) -> tuple[str, ...]:
    return (f"c={concurrency} p50 ms", "p95", "p99", "req/s")


def _latency(run: dict[str, Any]) -> tuple[str, ...]:
    """A scenario's cells at one concurrency, under _latency_head."""
    return (
        _n(run.get("p50_ms")),
        _n(run.get("p95_ms")),
        _n(run.get("p99_ms")),
        _n(run.get("rps"), 1),
    )


def _api(data: dict[str, Any]) -> list[str]:
    api = data.get("api")
    if not is_run(api):
        return [_not_run(api), ""]
    conc = data["config"]["profile"]["concurrency"]
    lines = [
        f"{_n(api['size'])} items, `{api['server']}` on 127.0.0.1, one worker; the load "
        "generator is a separate process (asyncio + httpx). c=1: one request at a time "
        f"(latency without queueing; the goals use these); c={conc}: {conc} in flight.",
        "",
    ]
    rows = []
    for name in dict.fromkeys(s["name"] for s in api["scenarios"]):
        one, many = scenario(data, name, 1), scenario(data, name, conc)
        backends = ", ".join(sorted({*one.get("backends", {}), *many.get("backends", {})}))
        requests = one.get("ok", 0) + many.get("ok", 0)
        failed = one.get("errors", 0) + many.get("errors", 0)
        rows.append(
            (name, *_latency(one), *_latency(many), _n(requests), _n(failed), backends or "-")
        )
    head = ("scenario", *_latency_head(1), *_latency_head(conc), "requests", "errors", "backend")
    lines += _table(head, rows)
    errors = [s for s in api["scenarios"] if s.get("error_sample")]
    lines += [f"- {s['name']} (c={s['concurrency']}): {s['error_sample']}" for s in errors[:5]]
    lines += [
        "",
        f"Cold start (process start -> `GET /health/ready` 200): **{_n(api['cold_start_s'])} s**; "
        f"API RSS {_mib(api['api_rss_ready_bytes'])} when ready, {_mib(api['api_rss_bytes'])} "
        f"peak sampled; FAISS snapshot of {_n(api['snapshot_size'])} vectors built in "
        f"{_n(api['faiss_rebuild_s'], 3)} s.",
        "",
    ]
    return lines


def _filtered(data: dict[str, Any]) -> list[str]:
    b = data.get("baselines")
    if not is_run(b):
        return [_not_run(b), ""]
    pg = b["pgvector"]
    lines = [
        f"{b['queries']} query vectors (a catalog item's vector plus noise); exact top-10 "
        "from numpy over the same vectors. Filter: `attr.bucket`, a synthetic attribute with "
        "known shares. Plain pgvector = `ORDER BY embedding::vector(384) <=> q LIMIT 10` "
        f"with the server's defaults ({', '.join(f'{k}={v}' for k, v in pg['settings'].items())}"
        "); exact scan = the uncast distance, which no index serves.",
        "",
    ]
    rows = []
    rs = b["rec_semantic"]["by_selectivity"]
    for label, p in pg["by_selectivity"].items():
        r = rs.get(label, {})
        api_name = "semantic_cached" if label == "100%" else f"semantic_filtered_{label}"
        rows.append(
            (
                label,
                _n(p["recall_at_10"], 3),
                _n(p["uses_hnsw"]),
                _n(p["default_sql"]["p50_ms"]),
                _n(p["exact_scan"]["p50_ms"]),
                _n(r.get("recall_at_10"), 3),
                _n(r.get("min_recall_at_10"), 2),
                _n(r.get("p50_ms")),
                _n(r.get("p99_ms")),
                _n(scenario(data, api_name).get("p50_ms")),
            )
        )
    head = _heads(
        "matching | pgvector default recall@10 | uses HNSW | p50 ms | exact scan p50 ms"
        " | rec.semantic recall@10 | min | p50 ms | p99 ms | API p50 ms (c=1)"
    )
    return lines + _table(head, rows) + _storages(b) + _by_query(b)


def _by_query(b: dict[str, Any]) -> list[str]:
    """rec.semantic's recall@10 for the near-item queries above, typed text and titles."""
    kinds = b.get("recall_by_query")
    if not kinds:
        return ["", "recall@10 by kind of query: not measured in this run."]
    named = {"near-item": {"queries": b["queries"], **b["rec_semantic"]["by_selectivity"]}}
    named.update(kinds)
    labels = list(b["rec_semantic"]["by_selectivity"])
    lines = [
        "",
        "rec.semantic's recall@10 (mean / worst query) by kind of query, the same filters: "
        "near-item = the queries above; text = the judged queries' texts "
        "(bench/judged_queries.json), encoded; titles = catalog titles, encoded (short, "
        "generic texts whose nearest items are far and nearly tied: the hard case for HNSW; "
        "docs/serving.md#recall-depends-on-the-query):",
        "",
    ]
    rows = []
    for kind, by in named.items():
        cells = [
            f"{_n(by[label].get('recall_at_10'), 3)} / {_n(by[label].get('min_recall_at_10'), 2)}"
            if label in by
            else "-"
            for label in labels
        ]
        rows.append((kind, str(by.get("queries", "-")), *cells))
    return lines + _table(("queries", "n", *labels), rows)


def _storages(b: dict[str, Any]) -> list[str]:
    """rec.semantic with the model's HNSW storage and with the other (PGREC_VECTOR_STORAGE)."""
    other = b.get("rec_semantic_other_storage")
    if not other or "by_selectivity" not in other:
        return ["", f"HNSW storage compared: {_not_run(other)}"]
    mine = b["rec_semantic"]
    names = (mine.get("storage", "vector"), other["storage"])
    lines = [
        "",
        f"rec.semantic with the model's HNSW index ({names[0]}) and with a {names[1]} index "
        f"built next to it ({_n(other.get('build_s'))} s), the same queries; re-ranked with "
        "the stored float32 vectors either way:",
        "",
    ]
    rows = []
    for label, r in mine["by_selectivity"].items():
        o = other["by_selectivity"].get(label, {})
        cols = (("recall_at_10", 3), ("min_recall_at_10", 2), ("p50_ms", 2))
        rows.append((label, *(_n(x.get(key), digits) for x in (r, o) for key, digits in cols)))
    cols_head = ("recall@10", "min", "p50 ms")
    head = ("matching", *(f"{name} {col}" for name in names for col in cols_head))
    return lines + _table(head, rows)


def _baselines(data: dict[str, Any]) -> list[str]:
    b, r = data.get("baselines"), data.get("ratios") or {}
    if not is_run(b):
        return [_not_run(b), ""]
    enc = b["bare_encode"]
    rows: list[tuple[str, ...]] = [
        (
            "FAISS IndexFlatIP, in-process, 1 thread (the floor)",
            _n(b["faiss"]["p50_ms"], 3),
            _n(b["faiss"]["p99_ms"], 3),
        ),
        (
            f"bare `encode([q])` ({enc['embedder']}, torch threads {_n(enc.get('torch_threads'))})",
            _n(enc["p50_ms"]),
            _n(enc["p99_ms"]),
        ),
        (
            "pgvector exact scan, no filter",
            _n(_get(b, "pgvector", "by_selectivity", "100%", "exact_scan", "p50_ms")),
            "-",
        ),
    ]
    lines = _table(("baseline", "p50 ms", "p99 ms"), rows)
    lines += [
        f"- API item-to-item p50 / FAISS p50: **{_n(r.get('api_item_to_item_vs_faiss'))}x**",
        f"- API semantic (cached query) p50 / FAISS p50: "
        f"**{_n(r.get('api_semantic_cached_vs_faiss'))}x**",
        f"- API semantic (uncached query) p50 / bare encode p50: "
        f"**{_n(r.get('api_semantic_uncached_vs_bare_encode'))}x**",
        "",
    ]
    rows = [
        (
            str(k),
            _n(v["rec_semantic_vs_faiss"]),
            _n(v["rec_semantic_vs_default_pgvector"]),
            _n(v["rec_semantic_vs_exact_scan"]),
            _n(v["recall_rec_semantic_vs_default_pgvector"], 3),
        )
        for k, v in r.get("by_selectivity", {}).items()
    ]
    head = _heads(
        "matching | rec.semantic p50 / FAISS | / default pgvector | / exact scan"
        " | recall rec.semantic / default pgvector"
    )
    return lines + _table(head, rows)


def _scale(data: dict[str, Any]) -> list[str]:
    rows = []
    for p in data.get("scale", []):
        if not is_run(p):
            rows.append((_n(p["size"]), _not_run(p), *["-"] * 10))
            continue
        rows.append(
            (
                _n(p["size"]),
                _n(p.get("item_to_item_p50_ms")),
                _n(p.get("semantic_cached_p50_ms")),
                _n(p.get("cold_start_s")),
                _mib(p.get("api_rss_bytes")),
                _mib(p.get("faiss_bytes")),
                _n(p.get("faiss_rebuild_s"), 3),
                _n(p.get("hnsw_build_s")),
                _n(p.get("neighbors_refresh_s")),
                _mib(p.get("items_total_bytes")),
                _mib(p.get("item_embeddings_total_bytes")),
                _mib(p.get("hnsw_index_bytes")),
            )
        )
    head = _heads(
        "items | item-to-item p50 ms | semantic p50 ms | cold start s | API RSS | FAISS bytes"
        " | FAISS rebuild s | HNSW build s | neighbour lists s | items (+idx)"
        " | item_embeddings (+idx) | HNSW index"
    )
    return [
        "Latencies over HTTP at c=1; sizes from pg_total_relation_size / pg_relation_size.",
        "",
        *_table(head, rows),
    ]


def _kv(part: Any) -> str:
    if not is_run(part):
        return _not_run(part)
    return ", ".join(f"{k}: {_n(v)}" for k, v in part.items() if not isinstance(v, dict | list))


def _build(data: dict[str, Any]) -> list[str]:
    rows = [
        (k, _n(c["size"]), ", ".join(f"{n} {v:.2f}" for n, v in c["timings"].items()))
        for k, c in data.get("catalogs", {}).items()
    ]
    cfg = data["config"]
    return [
        "Real Netflix + TMDB rows replicated with distinct external ids; vectors = the "
        f"embedder's vectors of the originals ({cfg['embedder']}) plus seeded Gaussian noise "
        f"of norm {cfg['noise_norm']}, re-normalised. Items through the ingest writer (COPY + "
        "upsert), vectors by binary COPY, then the HNSW index "
        f"({', '.join(f'{k}={v}' for k, v in cfg['build_settings'].items())}).",
        "",
        *_table(("catalog", "items", "seconds per step"), rows),
    ]


def markdown(data: dict[str, Any]) -> str:
    m, v = data["machine"], data["versions"]
    plots = data.get("plots") or {}
    lines = [
        "<!-- written by `pgrec bench`; do not edit by hand -->",
        "# pgrec benchmarks",
        "",
        f"Command: `{data['command']}`  ",
        f"Generated {data['generated_at']} in {_n(data['wall_seconds'], 1)} s.  ",
        f"Machine: {m['nproc']} CPUs usable ({m['cpu']}), {_mib(m['ram_bytes'])} RAM, "
        f"{m['platform']}, Python {m['python']}; load average "
        f"{', '.join(map(str, m['load_average']))} at the start, "
        f"{', '.join(map(str, m.get('load_average_end', ['-'])))} at the end (other work on "
        "the machine slows every number).  ",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
    ]
    body = {
        "Goals": _goals(data),
        "API latency": _api(data),
        "Filtered retrieval": _filtered(data),
        "Baselines and ratios": _baselines(data),
        peer_report.SECTION: peer_report.markdown(data),
        "Scale": _scale(data),
        "Ingest and embedding": [
            f"- ingest: {_kv(data.get('ingest'))}",
            f"- embedding: {_kv(data.get('embedding'))}",
            "",
        ],
        "Catalog build": _build(data),
        "Plots": [f"![{name}]({path})" for name, path in plots.items() if name != "status"]
        + ([_not_run(plots)] if plots.get("status") else [])
        + [""],
        "Offline evaluation": [data["eval"]["markdown"].strip(), ""]
        if is_run(data.get("eval"))
        else [_not_run(data.get("eval")), ""],
        "Run": [", ".join(f"{k} {val:.1f} s" for k, val in data.get("phases", {}).items()), ""],
    }
    for section in SECTIONS:
        lines += [f"## {section}", "", *body[section]]
    return "\n".join(lines).rstrip() + "\n"


def write(data: dict[str, Any], out: Path) -> None:
    """bench/plots/*.png, bench/report.json and bench/REPORT.md under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    data["plots"] = bench_plots.draw(data, out / "plots")
    (out / "report.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    report = out / "REPORT.md"
    kept = scale_report.kept_section(report.read_text() if report.exists() else "")
    report.write_text(markdown(data) + ("\n" + kept if kept else ""))


def summary(data: dict[str, Any]) -> str:
    lines = [f"$ {data['command']}", f"wall time {data['wall_seconds']} s"]
    lines += [f"  {g['status']:>8}  {g['goal']}: {g['measured']}" for g in data["goals"]]
    return "\n".join(lines)
