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

USER_COLUMNS = ("system", "HR@10", "nDCG@10", "coverage", "ILD", "novelty", "users")
QUERY_COLUMNS = ("mode", "P@10", "nDCG@10", "queries")


def machine() -> dict[str, Any]:
    """nproc, CPU model, OS and Python of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
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


def query_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for q in report["queries"]["modes"]:
        if q["status"] != "ok":
            rows.append((q["mode"], q["status"]))
        else:
            rows.append((q["mode"], _num(q["precision"]), _num(q["ndcg"]), str(q["queries"])))
    return rows


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
            "Users: MovieLens leave-last-liked-out on TMDB 5000 (HR/nDCG ± 95% CI)",
            _text_table(USER_COLUMNS, user_rows(report)),
            "",
            f"Judged queries ({report['queries']['file']})",
            _text_table(QUERY_COLUMNS, query_rows(report)),
            "",
            _protocol_line(report),
            f"reproduce: {report['command']}",
            f"machine: {_machine_line(report)}",
        ]
    )


def markdown(report: dict[str, Any]) -> str:
    """The fragment bench/REPORT.md includes."""
    return "\n".join(
        [
            "<!-- written by `pgrec eval`; do not edit by hand -->",
            f"Command: `{report['command']}`  ",
            f"Machine: {_machine_line(report)}  ",
            f"Protocol: {_protocol_line(report)}; ran in {report['seconds']:.0f} s.",
            "",
            "**Users** (MovieLens ratings >= 4 = liked; leave the most recent liked movie out;"
            " HR@10 and nDCG@10 with 95% CI)",
            "",
            _md_table(USER_COLUMNS, user_rows(report)),
            "",
            "**Judged queries** (graded from TMDB genres + keywords, "
            f"{report['queries']['count']} queries)",
            "",
            _md_table(QUERY_COLUMNS, query_rows(report)),
            "",
        ]
    )


def write(report: dict[str, Any], out: Path, stem: str) -> tuple[Path, Path]:
    """`<stem>.json` and `<stem>.md` in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(report), encoding="utf-8")
    return json_path, md_path
