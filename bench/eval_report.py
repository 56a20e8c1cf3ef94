"""What `pgrec eval` prints and writes: the tables, the JSON, the markdown fragment, the machine.

Every number in these outputs comes from the run's report dict; nothing is typed in.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import eval_acceptance, eval_usermode

USER_COLUMNS = ("system", "HR@10", "nDCG@10", "coverage", "ILD", "novelty", "users")
QUERY_COLUMNS = ("mode", "split", "P@10", "nDCG@10", "queries")


def cpu_model(default: str) -> str:
    """The CPU's model name from /proc/cpuinfo, else platform.processor(), else `default`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or default


def machine() -> dict[str, Any]:
    """nproc, CPU model, OS and Python of this machine."""
    cpu = cpu_model("unknown")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _num(value: float | None, digits: int = 3, ci: float | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return f"{text} ± {ci:.{digits}f}" if ci is not None else text


def user_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for s in report["systems"]:
        if s["status"] != "ok":
            rows.append((s["name"], s["status"]))
            continue
        rows.append(
            (
                s["name"],
                _num(s["hr"], ci=s["hr_ci95"]),
                _num(s["ndcg"], ci=s["ndcg_ci95"]),
                _num(s["coverage"]),
                _num(s["ild"]),
                _num(s["novelty"], 2),
                str(s["users"]),
            )
        )
    return rows


def query_rows(report: dict[str, Any], key: str = "modes") -> list[tuple[str, ...]]:
    """One row per text mode; `key` "modes" (the report half) or "tuning_modes"."""
    rows: list[tuple[str, ...]] = []
    for q in report["queries"].get(key, []):
        split = q.get("split", "all")
        if q["status"] != "ok":
            rows.append((q["mode"], q["status"]))
        else:
            rows.append(
                (q["mode"], split, _num(q["precision"]), _num(q["ndcg"]), str(q["queries"]))
            )
    return rows


def _hybrid_method(hybrid: dict[str, Any]) -> str:
    if hybrid.get("method") == "scores":
        return "sum of min-max normalised scores"
    if hybrid.get("method") == "mnz":
        return "CombMNZ of min-max normalised scores"
    return f"weighted RRF (k {hybrid['k']})"


def _feedback(hybrid: dict[str, Any]) -> str:
    if not (fb := hybrid.get("feedback")):
        return ""
    return (
        f"; then pseudo-relevance feedback: the query's vector moved toward the first pass's"
        f" {fb['seeds']} best (beta {fb['beta']:g}), terms' {fb['depth']} best re-ranked by"
        f" {fb['alpha']:g} x terms score + {1 - fb['alpha']:g} x cosine (both min-max)"
    )


def tuning_lines(report: dict[str, Any]) -> list[str]:
    """What was tuned, on which split, and what was chosen."""
    lines: list[str] = []
    queries = report["queries"]
    if chosen := queries.get("chosen"):
        terms = ", ".join(f"{k.removeprefix('terms_')} {v:g}" for k, v in chosen["terms"].items())
        hybrid = chosen["hybrid"]
        weights = ", ".join(f"{k} {v:g}" for k, v in hybrid["weights"].items())
        split = queries.get("split", {})
        lines.append(
            f"Chosen on the tuning half ({len(split.get('tuning', []))} queries, seed "
            f"{split.get('seed')}, {queries.get('split_file')}) by {chosen['objective']}: "
            f"terms {terms}; hybrid {_hybrid_method(hybrid)}, lists {hybrid.get('depth', 10)}"
            f" deep, weights {weights}{_feedback(hybrid)}.  "
        )
    if natural := queries.get("natural_queries"):
        lines.append(
            f"Queries of 3+ words with no terms result: {len(natural['empty_terms'])} of "
            f"{natural['three_or_more_words']} (all judged queries).  "
        )
    if val := report.get("validation"):
        c = val["chosen"]
        seeds = "all training likes" if c["recent"] is None else f"the {c['recent']} latest likes"
        lines.append(
            f"More-like-these chosen on {val['validation_users']} validation users "
            f"(second-to-last liked item; co-occurrence rebuilt without it) by "
            f"{val['objective']}: seeds {seeds}, RRF k {c['k']}, also-liked weight "
            f"{c['also_liked']:g}.  "
        )
    lines += eval_usermode.report_lines(report)
    return lines


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    # A (name, status) row of a system that did not run spans the metric columns.
    full = [r for r in rows if len(r) == len(header)]
    widths = [max(len(x) for x in col) for col in zip(header, *full, strict=True)]
    widths[0] = max([widths[0], *(len(r[0]) for r in rows)])
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        if len(r) == len(header):
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        else:
            lines.append(f"{r[0].ljust(widths[0])}  {r[1]}")
    return "\n".join(lines)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([*r, *[""] * (len(header) - len(r))]) + " |" for r in rows]
    return "\n".join(lines)


def _machine_line(report: dict[str, Any]) -> str:
    mc = report["machine"]
    return f"{mc['nproc']} CPUs usable ({mc['cpu']}), {mc['platform']}, Python {mc['python']}"


def _protocol_line(report: dict[str, Any]) -> str:
    p = report["protocol"]
    return (
        f"{p['evaluated_users']} of {p['eligible_users']} eligible users, catalog "
        f"{p['catalog_items']} items, {p['training_events']} training ratings "
        f"({p['withheld_events']} withheld at/after the held-out time), "
        f"embedder {report['embedder']['name']}"
    )


def text(report: dict[str, Any]) -> str:
    """The terminal output: both tables, the protocol, the command and the machine."""
    return "\n".join(
        [
            "Users, test split: MovieLens leave-last-liked-out on TMDB 5000 (HR/nDCG ± 95% CI)",
            _text_table(USER_COLUMNS, user_rows(report)),
            "",
            f"Judged queries ({report['queries']['file']}), report half",
            _text_table(QUERY_COLUMNS, query_rows(report)),
            "",
            *tuning_lines(report),
            "",
            _text_table(eval_acceptance.COLUMNS, eval_acceptance.rows(report)),
            "",
            _protocol_line(report),
            f"reproduce: {report['command']}",
            f"machine: {_machine_line(report)}",
        ]
    )


def _jobs_lines(report: dict[str, Any]) -> list[str]:
    jobs = report.get("jobs") or {}
    lines: list[str] = []
    if cooc := jobs.get("cooccurrence"):
        lines.append(f"Co-occurrence refresh on the training events: {cooc['seconds']:.1f} s.  ")
    ranker = jobs.get("ranker") or {}
    if ranker.get("version"):
        m = ranker.get("metrics") or {}
        shown = ", ".join(
            f"{name} {m[name]['ndcg@10']:.3f}"
            for name in ("model", "fallback", "popularity")
            if isinstance(m.get(name), dict) and m[name].get("ndcg@10") is not None
        )
        gain = m.get("ndcg_gain_over_fallback") or {}
        interval = gain.get("ci95")
        shown += f"; gain over the fallback 95% CI {interval}" if interval else ""
        verdict = (
            "it beat the fallback weights beyond noise there, so it serves"
            if ranker.get("active")
            else "not above the fallback weights beyond noise there, so it is stored, not served"
        )
        lines.append(
            f"Ranker `{ranker['version']}` trained in {ranker['seconds']:.1f} s (seed "
            f"{report['protocol']['seed']}); nDCG@10 on its own validation users "
            f"({m.get('validation_users', '?')}, 20% of likes held out per user): {shown}; "
            f"{verdict}.  "
        )
    elif ranker.get("status"):
        lines.append(f"Ranker: {ranker['status']}.  ")
    served = served_row(report)
    pop = next((s for s in report["systems"] if s["name"] == "popularity"), None)
    if served and pop and served.get("hr") and pop.get("hr"):
        lines.append(
            f"Served by `GET /users/{{id}}/recommendations`: **{served['name']}**, HR@10 "
            f"{served['hr'] / pop['hr']:.2f}x popularity, nDCG@10 "
            f"{served['ndcg'] / pop['ndcg']:.2f}x, catalog coverage {served['coverage']:.3f}."
        )
    return lines


def served_row(report: dict[str, Any]) -> dict[str, Any] | None:
    """The user-mode row the API serves: the learned ranker if it was activated, else the
    fallback weights."""
    ranker = (report.get("jobs") or {}).get("ranker") or {}
    name = (
        "user: hybrid, learned ranker" if ranker.get("active") else "user: hybrid, fallback weights"
    )
    found: dict[str, Any] | None = next(
        (s for s in report["systems"] if s["name"] == name and s["status"] == "ok"), None
    )
    return found


def markdown(report: dict[str, Any], plot: str | None = None) -> str:
    """The fragment bench/REPORT.md includes; `plot`: the users plot's file name beside it."""
    return "\n".join(
        [
            "<!-- written by `pgrec eval`; do not edit by hand -->",
            f"Command: `{report['command']}`  ",
            f"Machine: {_machine_line(report)}  ",
            f"Protocol: {_protocol_line(report)}; ran in {report['seconds']:.0f} s.  ",
            *_jobs_lines(report),
            "",
            "**Users, test split** (MovieLens ratings >= 4 = liked; leave the most recent liked"
            " movie out; HR@10 and nDCG@10 with 95% CI)",
            "",
            _md_table(USER_COLUMNS, user_rows(report)),
            "",
            *([f"![HR@10 and nDCG@10 per system]({plot})", ""] if plot else []),
            "**Judged queries, report half** (graded from TMDB genres + keywords; "
            f"{len(report['queries'].get('split', {}).get('report', []))} of "
            f"{report['queries']['count']} queries; tuning never saw them)",
            "",
            _md_table(QUERY_COLUMNS, query_rows(report)),
            "",
            *tuning_lines(report),
            "",
            "Tuning half (what the choices above were made on; not a result):",
            "",
            _md_table(QUERY_COLUMNS, query_rows(report, "tuning_modes")),
            "",
            "**Issue 12 acceptance** (computed from the figures above):",
            "",
            _md_table(eval_acceptance.COLUMNS, eval_acceptance.rows(report)),
            "",
        ]
    )


def plot_users(report: dict[str, Any], path: Path) -> Path | None:
    """HR@10 and nDCG@10 (with 95% CI) of every system that ran, as horizontal bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [s for s in report["systems"] if s["status"] == "ok" and s["hr"] is not None]
    if not ok:
        return None
    names = [s["name"] for s in ok][::-1]
    ys = range(len(names))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 2.2))
    for offset, (key, label) in ((-0.2, ("hr", "HR@10")), (0.2, ("ndcg", "nDCG@10"))):
        values = [s[key] for s in ok][::-1]
        errors = [s[f"{key}_ci95"] or 0 for s in ok][::-1]
        ax.barh([y + offset for y in ys], values, height=0.4, xerr=errors, label=label)
    pop = next((s["hr"] for s in ok if s["name"] == "popularity"), None)
    if pop is not None:
        ax.axvline(pop, color="grey", linestyle=":", label="popularity HR@10")
        ax.axvline(1.5 * pop, color="black", linestyle="--", label="1.5 x popularity HR@10")
    ax.set_yticks(list(ys), names)
    ax.set_xlabel("leave-last-liked-out, MovieLens users on TMDB 5000 (95% CI)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write(report: dict[str, Any], out: Path, stem: str) -> tuple[Path, Path]:
    """`<stem>.json`, `<stem>.md` and the users plot `<stem>_users.png` in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot = plot_users(report, out / f"{stem}_users.png")
    md_path.write_text(markdown(report, plot.name if plot else None), encoding="utf-8")
    return json_path, md_path
