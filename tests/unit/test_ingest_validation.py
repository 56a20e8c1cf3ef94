"""validate_items: coercion of CSV strings and native values, and one error per bad field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from db.ingest import ItemRecord, validate_items
from db.ingest.validation import normalise_item


def test_native_values_are_normalised() -> None:
    out = validate_items(
        items=[
            {
                "external_id": " shop:1 ",
                "title": "Chair\u00a0One",
                "description": None,
                "categories": ["Home", "home", "Home"],
                "tags": [],
                "year": 2020,
                "price": 19.999,
                "available": False,
                "popularity": 3,
                "attributes": {"colour": "red\u200b"},
            }
        ]
    )
    assert out.errors == []
    assert out.records == [
        ItemRecord(
            external_id="shop:1",
            title="Chair One",
            description="",
            kind="item",
            categories=["Home", "home"],
            tags=[],
            year=2020,
            price=Decimal("20.00"),
            available=False,
            attributes={"colour": "red"},
            popularity=3.0,
        )
    ]


def test_csv_strings_are_coerced_and_unknown_columns_become_attributes() -> None:
    record = normalise_item(
        {
            "external_id": "shop:2",
            "title": "Lamp",
            "kind": "product",
            "categories": "Home|Lighting| |Home",
            "tags": '["desk", "led"]',
            "year": " 2019 ",
            "price": "12.5",
            "available": "Yes",
            "popularity": "0.25",
            "attributes": '{"watts": 40}',
            "colour": "white",
            "weight_kg": "",
        }
    )
    assert record == ItemRecord(
        external_id="shop:2",
        title="Lamp",
        kind="product",
        categories=["Home", "Lighting"],
        tags=["desk", "led"],
        year=2019,
        price=Decimal("12.50"),
        available=True,
        attributes={"watts": 40, "colour": "white"},
        popularity=0.25,
    )


def test_attributes_object_wins_over_a_loose_column() -> None:
    record = normalise_item(
        {"external_id": "a", "title": "t", "colour": "loose", "attributes": {"colour": "kept"}}
    )
    assert record.attributes == {"colour": "kept"}


@pytest.mark.parametrize(
    ("item", "field", "reason"),
    [
        ({"title": "t"}, "external_id", "required"),
        ({"external_id": "  ", "title": "t"}, "external_id", "required"),
        ({"external_id": "a", "title": "\u200b"}, "title", "required"),
        ({"external_id": "a", "title": "t", "year": "19x9"}, "year", "not an integer"),
        ({"external_id": "a", "title": "t", "year": 2020.5}, "year", "not an integer"),
        ({"external_id": "a", "title": "t", "year": "0"}, "year", "out of range"),
        ({"external_id": "a", "title": "t", "price": "-1"}, "price", "negative"),
        ({"external_id": "a", "title": "t", "price": "cheap"}, "price", "not a number"),
        ({"external_id": "a", "title": "t", "price": "NaN"}, "price", "not a number"),
        ({"external_id": "a", "title": "t", "price": 1e12}, "price", "too large"),
        ({"external_id": "a", "title": "t", "available": "maybe"}, "available", "boolean"),
        ({"external_id": "a", "title": "t", "popularity": "hot"}, "popularity", "not a number"),
        ({"external_id": "a", "title": "t", "tags": '["a", '}, "tags", "malformed JSON"),
        ({"external_id": "a", "title": "t", "tags": [{"x": 1}]}, "tags", "must be strings"),
        ({"external_id": "a", "title": "t", "attributes": "{oops"}, "attributes", "malformed JSON"),
        ({"external_id": "a", "title": "t", "attributes": "[1]"}, "attributes", "JSON object"),
        ({"external_id": "a", "title": "t", "attributes": '{"x": NaN}'}, "attributes", "NaN"),
        ({"external_id": "a", "title": ["t"]}, "title", "not a string"),
    ],
)
def test_each_bad_field_is_reported(item: dict[str, Any], field: str, reason: str) -> None:
    out = validate_items(items=[item])
    assert out.records == []
    assert [(e.field, e.line, e.source) for e in out.errors] == [(field, 1, "request")]
    assert reason in out.errors[0].reason


def test_every_bad_field_of_a_row_is_listed_with_its_value() -> None:
    out = validate_items(
        items=[{"external_id": "a", "title": "", "year": "soon", "price": "-3"}],
        source="body",
        first=0,
    )
    assert [str(e) for e in out.errors] == [
        "body:0: field 'title': required, but missing or blank (value '')",
        "body:0: field 'year': not an integer (value 'soon')",
        "body:0: field 'price': negative (value '-3')",
    ]


def test_duplicate_external_id_names_the_first_item() -> None:
    out = validate_items(
        items=[
            {"external_id": "a", "title": "one"},
            {"external_id": "b", "title": "two"},
            {"external_id": "a\u00a0", "title": "three"},  # the same id once normalised
        ]
    )
    assert [r.title for r in out.records] == ["one", "two"]
    assert [str(e) for e in out.errors] == [
        "request:3: field 'external_id': duplicate external_id (first at item 1) (value 'a')"
    ]


def test_a_non_object_item_is_an_error_not_a_crash() -> None:
    out = validate_items(items=[["not", "an", "object"]])  # type: ignore[list-item]
    assert out.records == []
    assert out.errors[0].reason == "not an object"


def test_long_and_unprintable_values_are_shortened_and_escaped() -> None:
    out = validate_items(items=[{"external_id": "a", "title": "t", "year": "x\n" * 100}])
    shown = out.errors[0].value
    assert shown is not None
    assert len(shown) == 80
    assert shown.startswith("x\\nx\\n")
    assert shown.endswith("...")
