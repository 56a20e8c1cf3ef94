"""The judged query set: grades from genres and keywords, and per-mode scoring."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench.eval_queries import (
    DEFAULT_QUERIES,
    JudgedQuery,
    Labels,
    evaluate_mode,
    grade,
    judge,
    load_queries,
)

SPACE = JudgedQuery("space", "space adventure", ("Science Fiction",), ("space", "astronaut"))


def test_grades_from_genres_and_keyword_word_starts() -> None:
    assert grade(SPACE, Labels(("Science Fiction", "Drama"), ("outer space",))) == 2
    assert grade(SPACE, Labels(("science fiction",), ("Spaceship",))) == 2
    assert grade(SPACE, Labels(("Comedy",), ("astronauts",))) == 1
    assert grade(SPACE, Labels(("Science Fiction",), ("myspace",))) == 0
    assert grade(SPACE, Labels(("Science Fiction",), ())) == 0


def test_evaluate_a_mode() -> None:
    catalog = {
        1: Labels(("Science Fiction",), ("space",)),
        2: Labels(("Comedy",), ("space",)),
        3: Labels(("Comedy",), ("dog",)),
    }
    assert judge(SPACE, catalog) == {1: 2.0, 2: 1.0}
    nothing = JudgedQuery("none", "x", (), ("unicorn",))  # no relevant item: skipped
    result = evaluate_mode("m", lambda q: [3, 1], [SPACE, nothing], catalog)
    assert (result.status, result.queries) == ("ok", 1)
    assert result.precision == pytest.approx(0.1)
    ideal = 2 + 1 / 1.584962500721156
    assert result.ndcg == pytest.approx((2 / 1.584962500721156) / ideal)
    assert result.per_query[0].top == (3, 1)


def test_a_mode_not_built_yet_is_reported_blocked() -> None:
    def missing(q: JudgedQuery) -> list[int]:
        raise NotImplementedError("db.recs.search_terms is not implemented yet")

    catalog = {1: Labels(("Science Fiction",), ("space",))}
    result = evaluate_mode("terms", missing, [SPACE], catalog)
    assert result.status == "blocked: db.recs.search_terms is not implemented yet"
    assert result.precision is None


def test_every_committed_query_has_ten_fully_relevant_tmdb_movies(shared_data: Path) -> None:
    path = shared_data / "tmdb_5000_movies" / "tmdb_5000_movies.csv"
    with path.open(newline="", encoding="utf-8") as f:
        catalog = {
            int(row["id"]): Labels(
                tuple(g["name"] for g in json.loads(row["genres"])),
                tuple(k["name"] for k in json.loads(row["keywords"])),
            )
            for row in csv.DictReader(f)
        }
    queries = load_queries(DEFAULT_QUERIES)
    assert 20 <= len(queries) <= 40
    assert len({q.id for q in queries}) == len(queries)
    for q in queries:
        grades = judge(q, catalog)
        assert sum(1 for g in grades.values() if g == 2) >= 10, q.id
