"""Netflix and TMDB rows (real ones from ../shared/data) as items, and COPY's text format."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from db.ingest import ItemRecord, netflix, tmdb
from db.ingest.pipeline import read_items
from db.ingest.records import FieldError
from db.ingest.validation import normalise_item
from db.ingest.writer import COLUMNS, copy_line


def _rows(path: Path, key: str) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return {row[key]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def netflix_rows(shared_data: Path) -> dict[str, dict[str, str]]:
    return _rows(shared_data / "netflix_titles" / "netflix_titles.csv", "show_id")


@pytest.fixture(scope="module")
def tmdb_rows(shared_data: Path) -> dict[str, dict[str, str]]:
    return _rows(shared_data / "tmdb_5000_movies" / "tmdb_5000_movies.csv", "id")


def _netflix(row: dict[str, str]) -> ItemRecord:
    return normalise_item(netflix.map_row(row), names=netflix.NAMES)


def _tmdb(row: dict[str, str]) -> ItemRecord:
    return normalise_item(tmdb.map_row(row), names=tmdb.NAMES)


def test_netflix_tv_show(netflix_rows: dict[str, dict[str, str]]) -> None:
    item = _netflix(netflix_rows["s2"])
    assert item.external_id == "netflix:s2"
    assert (item.title, item.kind, item.year) == ("Blood & Water", "tv", 2021)
    assert item.categories == ["International TV Shows", "TV Dramas", "TV Mysteries"]
    assert item.attributes["seasons"] == 2
    assert item.attributes["rating"] == "TV-MA"
    assert item.attributes["country"] == ["South Africa"]
    assert item.attributes["cast"][:2] == ["Ama Qamata", "Khosi Ngema"]
    assert item.attributes["date_added"] == "2021-09-24"
    assert "director" not in item.attributes  # empty in the file


@pytest.mark.parametrize(("show_id", "minutes"), [("s5542", 74), ("s5795", 84), ("s5814", 66)])
def test_netflix_duration_in_the_rating_column(
    netflix_rows: dict[str, dict[str, str]], show_id: str, minutes: int
) -> None:
    item = _netflix(netflix_rows[show_id])
    assert item.attributes["duration_minutes"] == minutes
    assert "rating" not in item.attributes


def test_netflix_unicode_and_stray_comma_quirks(netflix_rows: dict[str, dict[str, str]]) -> None:
    assert _netflix(netflix_rows["s622"]).title == "Legend of Exorcism"  # NBSPs
    assert _netflix(netflix_rows["s6530"]).title == "Consequences"  # trailing NBSP
    assert _netflix(netflix_rows["s2999"]).title == "SAINT SEIYA: Knights of the Zodiac"  # ZWSP
    assert _netflix(netflix_rows["s5970"]).title == "Maj Rati Keteki"  # three ZWSPs
    assert _netflix(netflix_rows["s6458"]).attributes["cast"][0] == "Seong-joo Kim"
    assert _netflix(netflix_rows["s194"]).attributes["country"] == ["South Korea"]
    assert _netflix(netflix_rows["s2225"]).attributes["country"][-1] == "Cambodia"
    assert _netflix(netflix_rows["s6080"]).attributes["date_added"] == "2017-08-04"


def test_netflix_bad_values_name_their_column(netflix_rows: dict[str, dict[str, str]]) -> None:
    row = dict(netflix_rows["s1"], date_added="someday")
    with pytest.raises(FieldError) as err:
        netflix.map_row(row)
    assert (err.value.field, err.value.value) == ("date_added", "someday")
    row = dict(netflix_rows["s1"], duration="long")
    with pytest.raises(FieldError, match="not a duration"):
        netflix.map_row(row)


def test_tmdb_json_cells(tmdb_rows: dict[str, dict[str, str]]) -> None:
    item = _tmdb(tmdb_rows["19995"])
    assert (item.external_id, item.kind, item.title, item.year) == (
        "tmdb:19995",
        "movie",
        "Avatar",
        2009,
    )
    assert item.categories == ["Action", "Adventure", "Fantasy", "Science Fiction"]
    assert item.tags[:3] == ["culture clash", "future", "space war"]
    assert item.popularity == pytest.approx(150.437577)
    assert item.attributes == {
        "language": "en",
        "runtime": 162,
        "vote_average": 7.2,
        "vote_count": 11800,
        "budget": 237000000,
        "revenue": 2787965087,
        "tagline": "Enter the World of Pandora.",
        "original_title": "Avatar",
        "status": "Released",
        "release_date": "2009-12-10",
        "countries": ["US", "GB"],
    }


def test_tmdb_quirks(tmdb_rows: dict[str, dict[str, str]]) -> None:
    assert "\r" not in _tmdb(tmdb_rows["11891"]).description  # bare CR inside the overview
    assert "\u00ad" not in _tmdb(tmdb_rows["82631"]).description  # soft hyphen
    assert _tmdb(tmdb_rows["82631"]).description.startswith("Two determined mothers, one")
    zeros = _tmdb(tmdb_rows["113406"]).attributes  # runtime, budget, votes all 0
    assert not {"runtime", "budget", "revenue", "vote_count", "vote_average"} & zeros.keys()
    undated = _tmdb(tmdb_rows["380097"])
    assert undated.year is None
    assert "release_date" not in undated.attributes
    assert _tmdb(tmdb_rows["370980"]).description == ""  # empty overview


def test_tmdb_malformed_json_cell_names_the_column(tmdb_rows: dict[str, dict[str, str]]) -> None:
    with pytest.raises(FieldError) as err:
        tmdb.map_row(dict(tmdb_rows["19995"], genres='[{"id": 28, "name": "Action"'))
    assert err.value.field == "genres"
    assert err.value.reason.startswith("malformed JSON")
    with pytest.raises(FieldError, match="not a JSON list"):
        tmdb.map_row(dict(tmdb_rows["19995"], keywords='{"name": "x"}'))


@pytest.mark.parametrize(
    ("fmt", "path", "key", "mapper", "count"),
    [
        ("netflix", "netflix_titles/netflix_titles.csv", "show_id", _netflix, 8807),
        ("tmdb", "tmdb_5000_movies/tmdb_5000_movies.csv", "id", _tmdb, 4803),
    ],
)
def test_the_fast_path_gives_the_same_items_as_the_plain_one(
    shared_data: Path, fmt: str, path: str, key: str, mapper: Any, count: int
) -> None:
    """The file path cleans whole rows once and skips the per-field text pass: same result."""
    errors: list[Any] = []
    fast = list(read_items(path=shared_data / path, fmt=fmt, errors=errors))
    assert (len(fast), errors) == (count, [])
    plain = [mapper(row) for row in _rows(shared_data / path, key).values()]
    assert fast == plain


def _fields(line: str) -> dict[str, Any]:
    assert line.endswith("\n")
    return dict(zip(COLUMNS, line[:-1].split("\t"), strict=True))


def test_copy_line_escapes_what_copy_and_array_literals_need() -> None:
    record = ItemRecord(
        external_id="x:1",
        title="back\\slash",
        description="tab\there\nnewline",
        categories=['say "hi"', "NULL", "a\\b"],
        tags=[],
        year=None,
        price=Decimal("9.50"),
        available=False,
        attributes={"q": 'a "quote"', "nested": ["\\"]},
        popularity=1.5,
    )
    fields = _fields(copy_line(record))
    assert fields["title"] == "back\\\\slash"
    assert fields["description"] == "tab\\there\\nnewline"
    assert fields["categories"] == '{"say \\\\"hi\\\\"","NULL","a\\\\\\\\b"}'
    assert fields["tags"] == "{}"
    assert (fields["year"], fields["price"], fields["available"]) == ("\\N", "9.50", "f")
    assert fields["attributes"] == '{"q":"a \\\\"quote\\\\"","nested":["\\\\\\\\"]}'
    assert fields["popularity"] == "1.5"
