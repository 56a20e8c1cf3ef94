"""The Kaggle "Netflix Movies and TV Shows" CSV (`netflix_titles.csv`) mapped to items.

- external_id `netflix:<show_id>`; kind `movie` (type Movie) or `tv` (TV Show); title;
  description; categories = `listed_in`; year = `release_year`.
- attributes: `country`, `director`, `cast` (lists; stray commas dropped), `rating`,
  `duration_minutes` (`90 min`) or `seasons` (`2 Seasons`), `date_added` (ISO date).
  Empty values are left out.
- Quirk: in three rows `rating` holds a duration (`74 min`) and `duration` is empty; the
  duration is taken from `rating` and the rating is left out.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any

from db.ingest.records import FieldError
from db.ingest.text import clean_text

COLUMNS = (
    "show_id",
    "type",
    "title",
    "director",
    "cast",
    "country",
    "date_added",
    "release_year",
    "rating",
    "duration",
    "listed_in",
    "description",
)
# Field names in error messages: the column a value came from.
NAMES = {
    "external_id": "show_id",
    "kind": "type",
    "year": "release_year",
    "categories": "listed_in",
}
KINDS = {"movie": "movie", "tv show": "tv"}
_MINUTES = re.compile(r"(\d+)\s*min", re.IGNORECASE)
_SEASONS = re.compile(r"(\d+)\s*seasons?", re.IGNORECASE)
_DATE = re.compile(r"([A-Za-z]+) (\d{1,2}), (\d{4})")
# English month names spelled out: strptime's %B (and calendar) follow the process locale.
_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6,
    "july": 7, "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip


@lru_cache(maxsize=4096)
def _date(value: str) -> str | None:
    # Few distinct dates, many rows: cache the parse.
    text = clean_text(value)
    if not text:
        return None
    m = _DATE.fullmatch(text)
    try:
        if m is None:
            raise ValueError(text)
        return dt.date(int(m[3]), _MONTHS[m[1].lower()], int(m[2])).isoformat()
    except (KeyError, ValueError):
        raise FieldError("date_added", "not a date like 'September 25, 2021'", value) from None


def _duration(value: str) -> dict[str, int]:
    text = clean_text(value)
    if not text:
        return {}
    if m := _MINUTES.fullmatch(text):
        return {"duration_minutes": int(m[1])}
    if m := _SEASONS.fullmatch(text):
        return {"seasons": int(m[1])}
    raise FieldError("duration", "not a duration like '90 min' or '2 Seasons'", value)


def _names(cell: str) -> list[str]:
    # Stray commas (", South Korea", "United Kingdom,") give no empty names.
    return [name for name in map(str.strip, cell.split(",")) if name]


def map_row(row: dict[str, str]) -> dict[str, Any]:
    """A Netflix row (its cells normalised) as item fields for normalise_item(clean=True)."""
    show_id = row["show_id"].strip()
    rating: str | None = clean_text(row["rating"]) or None
    duration = _duration(row["duration"])
    if rating is not None and _MINUTES.fullmatch(rating):
        # The rating column holds the duration (three real rows): move it across.
        duration = duration or _duration(rating)
        rating = None
    kind = row["type"].strip().lower()
    attributes: dict[str, Any] = {
        "country": _names(row["country"]),
        "director": _names(row["director"]),
        "cast": _names(row["cast"]),
        "rating": rating,
        **duration,
        "date_added": _date(row["date_added"]),
    }
    return {
        "external_id": f"netflix:{show_id}" if show_id else None,
        "title": row["title"],
        "description": row["description"],
        "kind": KINDS.get(kind, kind),
        "categories": list(dict.fromkeys(_names(row["listed_in"]))),  # no repeats
        "year": row["release_year"],
        "attributes": {k: v for k, v in attributes.items() if v not in (None, [])},
    }
