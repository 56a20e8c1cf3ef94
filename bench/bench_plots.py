"""The report's PNG plots (matplotlib, headless), drawn from the report dict only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import peer_report
from bench.bench_stats import is_run

PLOTS = {
    "latency_vs_selectivity": "p50 latency vs filter selectivity",
    "recall_vs_selectivity": "recall@10 vs filter selectivity",
    "latency_vs_size": "API p50 latency vs catalog size",
    "memory_vs_size": "memory vs catalog size",
}


def _share(label: str) -> float:
    return float(label.rstrip("%"))


def _selectivity_series(data: dict[str, Any]) -> dict[str, dict[str, list[float | None]]]:
    """{metric: {series: values}} over the selectivity labels, in the baselines' order."""
    b = data.get("baselines") or {}
    pg = (b.get("pgvector") or {}).get("by_selectivity", {})
    rs = (b.get("rec_semantic") or {}).get("by_selectivity", {})
    api = {
        s["name"]: s
        for s in (data.get("api") or {}).get("scenarios", [])
        if s.get("concurrency") == 1
    }
    labels = list(rs) or list(pg)
    lat: dict[str, list[float | None]] = {
        "rec.semantic (SQL, in-process)": [rs.get(x, {}).get("p50_ms") for x in labels],
        "plain pgvector, default settings": [
            pg.get(x, {}).get("default_sql", {}).get("p50_ms") for x in labels
        ],
        "pgvector exact scan": [pg.get(x, {}).get("exact_scan", {}).get("p50_ms") for x in labels],
        "API semantic over HTTP (c=1)": [
            api.get("semantic_cached" if x == "100%" else f"semantic_filtered_{x}", {}).get(
                "p50_ms"
            )
            for x in labels
        ],
    }
    rec: dict[str, list[float | None]] = {
        "rec.semantic": [rs.get(x, {}).get("recall_at_10") for x in labels],
        "plain pgvector, default settings": [pg.get(x, {}).get("recall_at_10") for x in labels],
    }
    return {"labels": {"x": [_share(x) for x in labels]}, "latency": lat, "recall": rec}


def draw(data: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Write the PNGs into out_dir; returns {name: relative path} or a not-run reason."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {"status": "not run", "reason": "matplotlib is not installed"}
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {}

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out_dir / f"{name}.png", dpi=110)
        plt.close(fig)
        written[name] = f"plots/{name}.png"

    sel = _selectivity_series(data)
    x = sel["labels"]["x"]
    for metric, ylabel, name in (
        ("latency", "p50 latency (ms)", "latency_vs_selectivity"),
        ("recall", "recall@10 vs exact", "recall_vs_selectivity"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for label, ys in sel[metric].items():
            pts = [(a, b) for a, b in zip(x, ys, strict=True) if b is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("share of the catalog matching the filter (%)")
        ax.set_ylabel(ylabel)
        if metric == "latency":
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, 1.05)
        ax.set_title(f"{PLOTS[name]} ({_k(data['config']['main_size'])} items)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, name)

    scale = [p for p in data.get("scale", []) if is_run(p)]
    sizes = [p["size"] for p in scale]
    for name, series, ylabel, unit in (
        (
            "latency_vs_size",
            {
                "item-to-item p50": "item_to_item_p50_ms",
                "semantic (cached) p50": ("semantic_cached_p50_ms"),
            },
            "p50 latency over HTTP, c=1 (ms)",
            1.0,
        ),
        (
            "memory_vs_size",
            {
                "API RSS": "api_rss_bytes",
                "FAISS vectors (n*dim*4)": "faiss_bytes",
                "items table + indexes": "items_total_bytes",
                "item_embeddings + indexes": "item_embeddings_total_bytes",
                "HNSW index": "hnsw_index_bytes",
            },
            "MiB",
            1 / 2**20,
        ),
    ):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for label, key in series.items():
            pts = [
                (s, p[key] * unit)
                for s, p in zip(sizes, scale, strict=True)
                if p.get(key) is not None
            ]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("catalog size (items)")
        ax.set_ylabel(ylabel)
        ax.set_title(PLOTS[name])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, name)
    written.update(peer_report.draw(data, out_dir, plt))
    return written


def _k(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)
