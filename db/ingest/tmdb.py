"""The Kaggle "TMDB 5000 Movie Dataset" CSV (`tmdb_5000_movies.csv`) mapped to items.

- external_id `tmdb:<id>`; kind `movie`; title; description = `overview`; categories =
  genre names and tags = keyword names (JSON lists inside CSV cells); year from
  `release_date`; popularity.
- attributes: `language` (original_language), `runtime` (minutes), `vote_average`,
  `vote_count`, `budget`, `revenue`, `tagline`, `original_title`, `status`,
  `release_date` (ISO), `countries` (ISO 3166-1 codes of production_countries).
  TMDb writes 0 for unknown: a 0 runtime, budget or revenue is left out, and so are
  vote_average and vote_count when nobody voted. Empty values are left out.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from db.ingest.records import FieldError
from db.ingest.text import clean_list

COLUMNS = (
    "id",
    "title",
    "overview",
    "genres",
    "keywords",
    "release_date",
    "popularity",
    "original_language",
    "runtime",
    "vote_average",
    "vote_count",
    "budget",
    "revenue",
    "tagline",
    "original_title",
    "status",
    "production_countries",
)
# Cells used as text (the pipeline normalises them while reading); JSON cells are parsed
# first and the strings taken from them normalised then.
TEXT_COLUMNS = (
    "id",
    "title",
    "overview",
    "release_date",
    "original_language",
    "tagline",
    "original_title",
    "status",
)
NAMES = {
    "external_id": "id",
    "description": "overview",
    "categories": "genres",
    "tags": "keywords",
    "year": "release_date",
}


def _json_list(row: dict[str, str], column: str, key: str) -> list[str]:
    """The `key` of each object in a JSON list cell, normalised (JSON escapes included)."""
    cell = row[column].strip()
    if not cell:
        return []
    try:
        entries = json.loads(cell)
    except ValueError as err:
        raise FieldError(column, f"malformed JSON ({err})", cell) from None
    try:
        if isinstance(entries, list):
            return clean_list([entry[key] for entry in entries])
    except (TypeError, KeyError):  # not objects, no `key`, or a value that is not text
        pass
    raise FieldError(column, f'not a JSON list of {{"{key}": "..."}} objects', cell)


def _number(row: dict[str, str], column: str, *, zero: bool = False) -> float | None:
    """A numeric cell; blank, and 0 unless `zero`, are "unknown" (None)."""
    cell = row[column].strip()
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        raise FieldError(column, "not a number", cell) from None
    if not math.isfinite(value) or value < 0:
        raise FieldError(column, "not a number >= 0", cell)
    return value if value or zero else None


def _whole(value: float | None) -> int | float | None:
    return int(value) if value is not None and value.is_integer() else value


def _release(row: dict[str, str]) -> tuple[str | None, int | None]:
    cell = row["release_date"].strip()
    if not cell:
        return None, None
    try:
        date = dt.date.fromisoformat(cell)
    except ValueError:
        raise FieldError("release_date", "not a date like 2009-12-10", cell) from None
    return date.isoformat(), date.year


def map_row(row: dict[str, str]) -> dict[str, Any]:
    """A TMDB row (TEXT_COLUMNS normalised) as item fields for normalise_item(clean=True)."""
    tmdb_id = row["id"].strip()
    if tmdb_id and not (tmdb_id.isdigit() and tmdb_id.isascii()):
        raise FieldError("id", "not a TMDb id (an integer)", tmdb_id)
    release_date, year = _release(row)
    votes = _number(row, "vote_count")
    attributes: dict[str, Any] = {
        "language": row["original_language"].strip(),
        "runtime": _whole(_number(row, "runtime")),
        "vote_average": _number(row, "vote_average", zero=True) if votes else None,
        "vote_count": _whole(votes),
        "budget": _whole(_number(row, "budget")),
        "revenue": _whole(_number(row, "revenue")),
        "tagline": row["tagline"].strip(),
        "original_title": row["original_title"].strip(),
        "status": row["status"].strip(),
        "release_date": release_date,
        "countries": _json_list(row, "production_countries", "iso_3166_1"),
    }
    return {
        "external_id": f"tmdb:{tmdb_id}" if tmdb_id else None,
        "title": row["title"],
        "description": row["overview"],
        "kind": "movie",
        "categories": _json_list(row, "genres", "name"),
        "tags": _json_list(row, "keywords", "name"),
        "year": year,
        "popularity": row["popularity"],
        "attributes": {k: v for k, v in attributes.items() if v not in (None, "", [])},
    }
