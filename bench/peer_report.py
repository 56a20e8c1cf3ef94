"""The REPORT.md section and the plot of the side-by-side run (bench/bench_peer.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import serving_targets
from bench.bench_stats import is_run

SECTION = "Side by side with the classic design"
PLOT = "peer_side_by_side"
SERVERS = {
    "peer": "peer (FastAPI + FAISS Flat)",
    "pgrec_w1": "pgrec --workers 1",
    "pgrec_w2": "pgrec --workers 2",
}


def _f(value: Any, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}" if isinstance(value, float) else f"{value:,}{suffix}"


def _mib(value: Any) -> str:
    return "-" if value is None else f"{value / 2**20:,.1f} MiB"


def _table(head: tuple[str, ...], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return [*lines, *("| " + " | ".join(r) + " |" for r in rows), ""]


def _passes(peer: dict[str, Any]) -> list[str]:
    rows = []
    for p in peer["passes"]:
        reason = None if is_run(p) else p.get("reason")
        rows.append(
            (
                p["mode"],
                str(p["concurrency"]),
                SERVERS.get(p["server"], p["server"]),
                _f(p.get("rps"), 1),
                _f(p.get("p50_ms")),
                _f(p.get("p99_ms")),
                _f(p.get("ok")),
                _f(p.get("errors")) if reason is None else f"not run: {reason}",
            )
        )
    head = ("mode", "c", "server", "req/s", "p50 ms", "p99 ms", "requests", "errors")
    return _table(head, rows)


def _ratios(peer: dict[str, Any]) -> list[str]:
    rows = [
        (
            r["mode"],
            str(r["concurrency"]),
            _f(r.get("pgrec_w1_vs_peer_rps"), 2, "x"),
            _f(r.get("pgrec_w1_vs_peer_p50_ms"), 2, "x"),
            _f(r.get("pgrec_w1_vs_peer_p99_ms"), 2, "x"),
            _f(r.get("pgrec_w2_vs_peer_rps"), 2, "x"),
            _f(r.get("w2_vs_w1_rps"), 2, "x"),
        )
        for r in peer["ratios"]
    ]
    head = (
        "mode",
        "c",
        "req/s pgrec(1) / peer",
        "p50 pgrec(1) / peer",
        "p99 pgrec(1) / peer",
        "req/s pgrec(2) / peer",
        "req/s 2 workers / 1",
    )
    return _table(head, rows)


def _memory(peer: dict[str, Any]) -> list[str]:
    rows = []
    for name, label in SERVERS.items():
        s = peer["servers"].get(name) or {}
        pss = s.get("pss") or {}
        if not is_run(s) or not is_run(pss):
            reason = (s if not is_run(s) else pss).get("reason", "missing")
            rows.append((label, f"not run: {reason}", "-", "-", "-", "-"))
            continue
        each = ", ".join(_mib(w) for w in pss.get("worker_pss_bytes", []))
        rows.append(
            (
                label,
                _f(s.get("cold_start_s")),
                _f(s.get("settled_s")),
                str(pss.get("workers")),
                each or "-",
                _mib(pss.get("total_pss_bytes")),
            )
        )
    head = ("server", "cold start s", "all loaded s", "workers", "PSS per worker", "PSS all")
    lines = _table(head, rows)
    lines.append(
        f"A second pgrec worker adds **{_mib(peer.get('second_worker_pss_bytes'))}** PSS "
        "(workers' PSS at 2 minus at 1, sampled after the load; issue 11 target <= 150 MiB "
        "at 40k)."
    )
    return [*lines, ""]


def _freshness(peer: dict[str, Any]) -> list[str]:
    f = peer.get("freshness")
    if not is_run(f):
        return [f"Freshness: _not run: {(f or {}).get('reason', 'missing')}_", ""]
    return [
        f"Freshness lag (pgrec --workers 1): {f['change']}; polled {f['watched']} every "
        f"{_f(f['poll_interval_ms'], 0)} ms until a response shows the change: "
        f"**p50 {_f(f.get('p50_ms'))} ms, p99 {_f(f.get('p99_ms'))} ms** over "
        f"{f.get('count')} changes ({f['not_visible_within_timeout']} not visible within "
        f"{_f(f['timeout_s'], 0)} s; issue 11 target p99 <= 1 s).",
        "",
    ]


def _status(value: float | None, ok: bool) -> str:
    return "not run" if value is None else ("**met**" if ok else "**not met**")


def best_over_c(passes: list[dict[str, Any]], mode: str) -> float | None:
    """2 workers' best req/s over any c, over 1 worker's best (c=1 cannot use 2 workers)."""
    best = {
        name: max((p.get("rps") or 0.0 for p in passes if (p["server"], p["mode"]) == (name, mode)),
                  default=0.0)
        for name in ("pgrec_w1", "pgrec_w2")
    }  # fmt: skip
    return round(best["pgrec_w2"] / best["pgrec_w1"], 2) if best["pgrec_w1"] else None


def targets(peer: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Issue 11's acceptance read from this run: (target, limit, measured, status)."""
    ratios = {(r["mode"], r["concurrency"]): r for r in peer["ratios"]}
    one: dict[str, Any] = next(
        (
            p
            for p in peer["passes"]
            if (p["server"], p["mode"], p["concurrency"]) == ("pgrec_w1", "item_to_item", 1)
        ),
        {},
    )
    p50 = one.get("p50_ms")
    rows = [
        ("item-to-item p50, c=1 (pgrec, 1 worker)", "<= 1.0 ms", _f(p50, 3, " ms"),
         _status(p50, p50 is not None and p50 <= 1.0))
    ]  # fmt: skip
    for conc in peer["concurrency"]:
        x = ratios.get(("item_to_item", conc), {}).get("pgrec_w1_vs_peer_rps")
        rows.append(
            (f"item-to-item req/s, pgrec / peer, c={conc}", ">= 4x", _f(x, 2, "x"),
             _status(x, x is not None and x >= 4.0))
        )  # fmt: skip
    best = best_over_c(peer["passes"], "item_to_item")
    rows.append(
        ("item-to-item req/s, 2 workers / 1 (best c of each)", ">= 1.5x", _f(best, 2, "x"),
         _status(best, best is not None and best >= 1.5))
    )  # fmt: skip
    added = peer.get("second_worker_pss_bytes")
    rows.append(
        ("PSS a second worker adds", "<= 150 MiB", _mib(added),
         _status(added, added is not None and added <= 150 * 2**20))
    )  # fmt: skip
    fresh = peer.get("freshness") or {}
    p99 = fresh.get("p99_ms") if is_run(fresh) else None
    missed = fresh.get("not_visible_within_timeout") or 0
    rows.append(
        ("freshness lag p99 (commit -> visible)", "<= 1,000 ms",
         _f(p99, 2, " ms") + (f", {missed} never seen" if missed else ""),
         _status(p99, p99 is not None and p99 <= 1000.0 and not missed))
    )  # fmt: skip
    return rows


def markdown(data: dict[str, Any]) -> list[str]:
    """The section's lines (or its not-run reason)."""
    peer = data.get("peer")
    if not is_run(peer):
        return [f"_not run: {(peer or {}).get('reason', 'missing')}_", ""]
    intro = [
        f"{_f(peer['size'])} items ({_f(peer['vectors'])} vectors exported from the bench "
        "database); the peer is bench/peer_app.py: FastAPI + FAISS `IndexFlatIP` searched per "
        "request with one OpenMP thread, no database, uvicorn, one worker (query encoder: "
        f"{peer['peer_encoder']}). One server at a time on 127.0.0.1; load from "
        f"{peer['client']}, one thread, kept-alive connections, {_f(peer['seconds_per_pass'], 0)} "
        "s per pass after a warm-up, started once every worker listens and has loaded its "
        "query encoder. `c` is the number of connections, each with one request in flight: "
        "with 2 workers, c=1 can only use one of them (each worker listens on its own "
        "SO_REUSEPORT socket and the kernel spreads connections), so the workers are compared "
        "on the best req/s over c of each. `semantic_new`: every query new; "
        "`semantic_repeated`: 20 queries cycled (pgrec's encode cache and per-view result "
        "cache answer, the peer encodes and searches each time).",
        "",
    ]
    reused = [p for p in peer["passes"] if p.get("repeated")]
    if reused:
        which = ", ".join(f"{p['server']} c={p['concurrency']}" for p in reused)
        intro += [
            f"`semantic_new` served more requests than it had distinct queries ({which}): "
            "some were repeated, so pgrec's encode cache answered those.",
            "",
        ]
    size_note = "" if peer["size"] == 40_000 else f" Measured at {peer['size']:,} items, not 40k."
    goals = [
        "Issue 11's targets (for `pgrec bench --quick` on an idle machine at 40k items)."
        + size_note,
        "",
        *_table(
            ("target (issue 11)", "limit", "measured", "status"),
            [*targets(peer), *serving_targets.targets(data)],
        ),
    ]
    body = [*_ratios(peer), *_passes(peer), *_filtered(data), *_memory(peer), *_freshness(peer)]
    return [*intro, *goals, *body]


def _filtered(data: dict[str, Any]) -> list[str]:
    """pgrec's filtered scenarios on wrk (one worker): what the filtered targets read."""
    by_c = {c: serving_targets.filtered_passes(data, c) for c in (1, 8)}
    if any(client != "wrk" for client, _ in by_c.values()):
        return []
    rows = [
        (
            name.removeprefix("semantic_filtered_"),
            *(
                _f(by_c[c][1].get(name, {}).get(stat), digits)
                for c in (1, 8)
                for stat, digits in (("p50_ms", 2), ("p99_ms", 2), ("rps", 1))
            ),
        )
        for name in by_c[1][1]
    ]
    head = ("filter", "c=1 p50 ms", "p99", "req/s", "c=8 p50 ms", "p99", "req/s")
    peer = data.get("peer", {})
    slots = peer.get("query_slots", peer.get("vector_query_slots"))  # older report.json
    how = (
        f"on asyncio connections, at most {slots} in Postgres at once (PGREC_QUERY_SLOTS)"
        if slots
        else "from worker threads through the threaded pool"
    )
    note = (
        "The filtered scenarios of the API latency table, on wrk against pgrec with one "
        "worker (the same 20 queries, already encoded: each request is the filtered path, "
        f"Postgres and the API around it; the `rec.semantic` call {how}). The filtered "
        "targets above read this table."
    )
    return [note, "", *_table(head, rows)]


def draw(data: dict[str, Any], out_dir: Path, plt: Any) -> dict[str, str]:
    """Grouped bars of req/s per mode and concurrency, one bar per server."""
    peer = data.get("peer")
    if not is_run(peer):
        return {}
    groups = list(dict.fromkeys((p["mode"], p["concurrency"]) for p in peer["passes"]))
    rps = {(p["server"], p["mode"], p["concurrency"]): p.get("rps") for p in peer["passes"]}
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / len(SERVERS)
    for k, (name, label) in enumerate(SERVERS.items()):
        xs = [g + k * width for g in range(len(groups))]
        ys = [rps.get((name, m, c)) or 0.0 for m, c in groups]
        ax.bar(xs, ys, width, label=label)
    ax.set_xticks([g + width for g in range(len(groups))])
    ax.set_xticklabels([f"{m}\nc={c}" for m, c in groups], fontsize=8)
    ax.set_ylabel("requests/s (higher is better)")
    ax.set_title(f"pgrec vs the classic design, {peer['size']:,} items")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / f"{PLOT}.png", dpi=110)
    plt.close(fig)
    return {PLOT: f"plots/{PLOT}.png"}
