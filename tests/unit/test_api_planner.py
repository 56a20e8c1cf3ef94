"""The planner's pure parts: when FAISS may answer, pool sizes, more-like vectors, groups."""

from __future__ import annotations

import numpy as np
import pytest

from api.params import ITEM_FIELDS, ListOptions
from api.planner import (
    MAX_POOL,
    group_value,
    json_value,
    more_like_vector,
    only_excludes,
    pool_size,
)
from api.rerank import RerankOptions
from db.read_model import HEAVY_FIELDS, LIGHT_COLUMNS
from db.recs import Filters


def test_fields_are_what_the_read_path_serves() -> None:
    # ITEM_FIELDS follows the items table; a column the read path does not fetch must not
    # become requestable (nor one it fetches be refused).
    served = set(LIGHT_COLUMNS) | HEAVY_FIELDS
    assert set(ITEM_FIELDS) == served - {"external_id", "title"}
    assert ITEM_FIELDS[:2] == ("description", "kind")  # table order, as the docs list them


def test_only_excludes_decides_the_faiss_path() -> None:
    assert only_excludes(Filters())
    assert only_excludes(Filters(exclude_ids=(1, 2)))
    assert only_excludes(Filters(categories_mode="all"))  # a mode without categories is no filter
    assert not only_excludes(Filters(categories=("Dramas",)))
    assert not only_excludes(Filters(attributes={"country": "India"}))
    assert not only_excludes(Filters(available=False))
    assert not only_excludes(Filters(year_min=2000))


def test_pool_size_widens_only_for_reranking() -> None:
    assert pool_size(ListOptions(n=10)) == 10
    assert pool_size(ListOptions(n=10, rerank=RerankOptions(diversity=0.3))) == 40
    assert pool_size(ListOptions(n=100, rerank=RerankOptions(freshness=1))) == 300
    big = ListOptions(n=100, rerank=RerankOptions(group_by="kind"))
    assert pool_size(big) <= MAX_POOL


def test_more_like_vector_is_avg_pos_plus_avg_pos_minus_avg_neg() -> None:
    a, b, c = np.eye(3, dtype=np.float32)
    assert np.allclose(more_like_vector([a, b], [], [1, 1], []), (a + b) / 2)
    assert np.allclose(more_like_vector([a], [c], [1], [1]), 2 * a - c)
    weighted = more_like_vector([a, b], [], [3, 1], [])
    assert np.allclose(weighted, 0.75 * a + 0.25 * b)
    assert more_like_vector([a], [], [1], []).dtype == np.float32


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        (None, None),
        ("kind", "Movie"),
        ("year", 2001),
        ("available", True),
        ("category", "Dramas"),
        ("attr.country", "India"),
        ("attr.rating", "PG"),
        ("attr.missing", None),
    ],
)
def test_group_value(group_by: str | None, expected: object) -> None:
    row = {
        "kind": "Movie",
        "year": 2001,
        "available": True,
        "categories": ["Dramas", "Comedies"],
        "attributes": {"country": ["India", "France"], "rating": "PG"},
    }
    assert group_value(row, group_by) == expected


def test_group_value_of_odd_shapes_is_hashable() -> None:
    assert group_value({"categories": []}, "category") is None
    value = group_value({"attributes": {"x": {"a": 1}}}, "attr.x")
    assert isinstance(value, str) and hash(value) is not None


def test_json_value_turns_decimals_into_floats() -> None:
    from decimal import Decimal

    assert json_value(Decimal("4.50")) == 4.5 and json_value("x") == "x"
