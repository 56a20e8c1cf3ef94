"""The judged query set: graded relevance from TMDB genres and keywords, and its evaluation.

Queries live in bench/judged_queries.json (how they were built is written there). Grades are
computed from the catalog at run time, never stored: 2 = every named genre and a matching
keyword, 1 = a matching keyword only, 0 = otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import eval_metrics as m
from bench.eval_systems import ModeUnavailable

DEFAULT_QUERIES = Path(__file__).resolve().parent / "judged_queries.json"


@dataclass(frozen=True)
class JudgedQuery:
    id: str
    text: str
    genres: tuple[str, ...]
    keywords: tuple[str, ...]

    def patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(r"\b" + re.escape(k.lower())) for k in self.keywords]


@dataclass(frozen=True)
class Labels:
    """What judging needs to know about an item: its genres and keywords."""

    categories: tuple[str, ...]
    tags: tuple[str, ...]


def load_queries(path: Path = DEFAULT_QUERIES) -> list[JudgedQuery]:
    """The queries of a judged_queries.json file."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [
        JudgedQuery(
            id=q["id"], text=q["text"], genres=tuple(q["genres"]), keywords=tuple(q["keywords"])
        )
        for q in doc["queries"]
    ]


def grade(query: JudgedQuery, labels: Labels) -> int:
    """2: every genre and a keyword; 1: a keyword only; 0: no keyword."""
    patterns = query.patterns()
    tags = [t.lower() for t in labels.tags]
    if not any(p.search(t) for p in patterns for t in tags):
        return 0
    genres = {c.lower() for c in labels.categories}
    return 2 if all(g.lower() in genres for g in query.genres) else 1


def judge(query: JudgedQuery, catalog: Mapping[int, Labels]) -> dict[int, float]:
    """item id -> grade for every item with a grade above 0."""
    grades = {item: grade(query, labels) for item, labels in catalog.items()}
    return {item: float(g) for item, g in grades.items() if g > 0}


# A mode answers a query with a ranked list of item ids.
Mode = Callable[[JudgedQuery], Sequence[int]]


@dataclass(frozen=True)
class QueryScore:
    query: str
    relevant: int  # items with grade > 0
    precision: float
    ndcg: float
    top: tuple[int, ...]


@dataclass(frozen=True)
class ModeResult:
    mode: str
    status: str  # "ok" or why the mode could not run
    queries: int
    precision: float | None
    ndcg: float | None
    per_query: tuple[QueryScore, ...]


def evaluate_mode(
    name: str,
    mode: Mode,
    queries: Iterable[JudgedQuery],
    catalog: Mapping[int, Labels],
    k: int = m.K,
) -> ModeResult:
    """P@k and graded nDCG@k of one mode over the queries that have a relevant item."""
    scores: list[QueryScore] = []
    for q in queries:
        grades = judge(q, catalog)
        if not grades:
            continue
        try:
            top = tuple(mode(q)[:k])
        except ModeUnavailable as err:
            return ModeResult(name, str(err), 0, None, None, ())
        except NotImplementedError as err:
            return ModeResult(name, f"blocked: {err or 'not implemented'}", 0, None, None, ())
        p_at_k = m.precision(top, set(grades), k)
        scores.append(QueryScore(q.id, len(grades), p_at_k, m.ndcg_graded(top, grades, k), top))
    return ModeResult(
        mode=name,
        status="ok",
        queries=len(scores),
        precision=m.mean(s.precision for s in scores),
        ndcg=m.mean(s.ndcg for s in scores),
        per_query=tuple(scores),
    )
