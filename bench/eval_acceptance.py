"""Issue 12's acceptance checks, computed from a `pgrec eval` report (report / test splits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench import eval_ci

COLUMNS = ("criterion (report half / test users)", "target", "measured", "verdict")
TFIDF = "baseline: TF-IDF (title + description)"
KNN = "baseline: item-kNN (cosine)"


def _ratio(value: float, base: float, digits: int = 3) -> str:
    """value / base as "1.234x"; "-" when the base is 0 (tiny test runs)."""
    return f"{value / base:.{digits}f}x" if base else "-"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _modes(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["mode"]: q for q in report["queries"].get("modes", []) if q["status"] == "ok"}


def _systems(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in report["systems"] if s["status"] == "ok"}


def _text_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    modes = _modes(report)
    rows: list[tuple[str, str, str, str]] = []
    terms, tfidf = modes.get("terms"), modes.get(TFIDF)
    if terms and tfidf:
        for key, label in (("precision", "P@10"), ("ndcg", "nDCG@10")):
            rows.append(
                (
                    f"terms {label} >= TF-IDF",
                    f">= {tfidf[key]:.3f}",
                    f"{terms[key]:.3f}",
                    _verdict(terms[key] >= tfidf[key]),
                )
            )
    if natural := report["queries"].get("natural_queries"):
        empty = len(natural["empty_terms"])
        rows.append(
            (
                "natural queries of 3+ words with an empty terms result",
                "0",
                f"{empty} of {natural['three_or_more_words']}",
                _verdict(empty == 0),
            )
        )
    hybrid = modes.get("hybrid")
    singles = [modes[m] for m in ("semantic", "terms", "title") if m in modes]
    if hybrid and singles:
        for key, label in (("precision", "P@10"), ("ndcg", "nDCG@10")):
            best = max(singles, key=lambda q: q[key])
            rows.append(
                (
                    f"hybrid {label} >= 1.05 x best single mode ({best['mode']})",
                    f">= {1.05 * best[key]:.3f}",
                    f"{hybrid[key]:.3f} ({_ratio(hybrid[key], best[key])}"
                    f"{eval_ci.paired_ratio(hybrid, best, key)})",
                    _verdict(hybrid[key] >= 1.05 * best[key]),
                )
            )
    return rows


def _user_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    systems = _systems(report)
    rows: list[tuple[str, str, str, str]] = []
    # The row GET /users/{id}/recommendations serves: the learned ranker only when activated.
    ranker = (report.get("jobs") or {}).get("ranker") or {}
    learned = "user: hybrid, learned ranker"
    served = systems.get(learned if ranker.get("active") else "user: hybrid, fallback weights")
    knn = systems.get(KNN)
    if served and knn:
        rows.append(
            (
                f"user mode ({served['name']}) HR@10 >= 1.75 x item-kNN",
                f">= {1.75 * knn['hr']:.3f}",
                f"{served['hr']:.3f} ({_ratio(served['hr'], knn['hr'], 2)})",
                _verdict(served["hr"] >= 1.75 * knn["hr"]),
            )
        )
        rows.append(
            (
                "user mode coverage@10 >= 0.15",
                ">= 0.150",
                f"{served['coverage']:.3f}",
                _verdict(served["coverage"] >= 0.15),
            )
        )
    mlt, pop = systems.get("more-like-these"), systems.get("popularity")
    if mlt and pop:
        rows.append(
            (
                "more-like-these nDCG@10 > popularity",
                f"> {pop['ndcg']:.3f}",
                f"{mlt['ndcg']:.3f}",
                _verdict(mlt["ndcg"] > pop["ndcg"]),
            )
        )
    return rows


def rows(report: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """One row per acceptance criterion that the report has the figures for."""
    return [*_text_rows(report), *_user_rows(report)]
