"""Filters serialise to exactly the keys rec.filter_sql knows; vectors to pgvector text."""

from __future__ import annotations

import numpy as np
import pytest

from db.recs import Filters, InvalidInput
from db.recs.calls import vector_literal


def test_empty_filters_serialise_to_nothing() -> None:
    assert Filters().to_json() == {}
    assert Filters().is_empty()


def test_every_field_serialises() -> None:
    f = Filters(
        categories=("Drama", "Crime"),
        categories_mode="all",
        tags=("prison",),
        kinds=("movie",),
        year_min=1990,
        year_max=2000,
        price_min=0.5,
        price_max=9.99,
        available=False,
        attributes={"country": "India"},
        exclude_ids=(3, 4),
    )
    assert f.to_json() == {
        "categories": ["Drama", "Crime"],
        "categories_mode": "all",
        "tags": ["prison"],
        "kinds": ["movie"],
        "year_min": 1990,
        "year_max": 2000,
        "price_min": 0.5,
        "price_max": 9.99,
        "available": False,
        "attributes": {"country": "India"},
        "exclude_ids": [3, 4],
    }
    assert not f.is_empty()


@pytest.mark.parametrize(
    "filters",
    [Filters(available=True), Filters(exclude_ids=(1,)), Filters(year_max=0)],
)
def test_any_set_field_is_a_filter(filters: Filters) -> None:
    assert not filters.is_empty()


def test_mode_only_travels_with_categories() -> None:
    assert Filters(categories_mode="all").to_json() == {}


def test_a_bare_string_is_refused_not_split_into_letters() -> None:
    with pytest.raises(InvalidInput, match="categories") as err:
        Filters(categories="Drama").to_json()  # type: ignore[arg-type]
    assert err.value.key == "categories"


def test_vector_literal_round_trips_float32() -> None:
    v = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    text = vector_literal(v)
    assert text.startswith("[") and text.endswith("]")
    back = np.array([float(x) for x in text[1:-1].split(",")], dtype=np.float32)
    assert np.array_equal(back, v)


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 3)), np.array([]), np.array([1.0, np.nan]), np.array([np.inf])]
)
def test_vector_literal_refuses_bad_vectors(bad: np.ndarray) -> None:
    with pytest.raises(InvalidInput, match="q"):
        vector_literal(bad)
