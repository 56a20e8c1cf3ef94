"""Item validation: one mapping in, a normalised ItemRecord or every bad field out.

Values may be native (a JSON body, a JSONL line) or the strings of a CSV cell; both are
coerced the same way, so the CLI and a later `POST /items` accept the same things:

- `external_id`, `title`: required, non-blank after text normalisation.
- `description` (default ''), `kind` (default 'item').
- `categories`, `tags`: a list, a JSON array string, or an `a|b|c` string; blanks and
  repeats are dropped.
- `year`: an integer 1..9999; `price`: a number >= 0 (rounded to cents, < 10^10);
  `popularity`: a finite number (default 0).
- `available`: a boolean or one of true/false, t/f, yes/no, y/n, 1/0 (default true).
- `attributes`: an object or a JSON object string; every other key is added to it (the
  object's own keys win) unless its value is empty.

Every string, nested ones included, goes through db.ingest.text.clean_text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from db.ingest.records import (
    FieldError,
    InvalidItem,
    ItemRecord,
    RowError,
    reject_constant,
    row_error,
)
from db.ingest.text import clean_json, clean_list, clean_text, split_clean

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_MAX_PRICE = Decimal("1e10")  # numeric(12, 2)
_CENTS = Decimal("0.01")
_MAX_REAL = 3.4e38
_NUMBER = int | float

# Parsers take the raw value and raise FieldError(None, ...); normalise_item names the field.


def _empty(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


def _text(value: Any) -> str:
    if type(value) is str:
        return clean_text(value)
    if value is None:
        return ""
    if isinstance(value, _NUMBER) and not isinstance(value, bool):
        return str(value)
    raise FieldError(None, "not a string", value)


def _required(value: Any) -> str:
    text = _text(value)
    if not text:
        raise FieldError(None, "required, but missing or blank", value)
    return text


def _kind(value: Any) -> str:
    return _text(value) or "item"


def _list(value: Any) -> list[str]:
    if _empty(value):
        return []
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped.startswith("["):
            return split_clean(stripped, "|")
        try:
            value = json.loads(stripped)
        except ValueError as err:
            raise FieldError(None, f"malformed JSON ({err})", stripped) from None
    if not isinstance(value, list):
        raise FieldError(None, "not a list", value)
    try:
        return clean_list(value)
    except TypeError:  # not all strings: numbers are fine as text, anything else is not
        pass
    if not all(isinstance(v, str | _NUMBER) and not isinstance(v, bool) for v in value):
        raise FieldError(None, "list items must be strings", value)
    return clean_list(str(v) for v in value)


def _year(value: Any) -> int | None:
    if _empty(value):
        return None
    if type(value) is str:
        digits = value.strip()
        if not (digits.lstrip("-").isdigit() and digits.isascii()):
            raise FieldError(None, "not an integer", value)
        number = int(digits)
    elif type(value) is int:
        number = value
    else:
        raise FieldError(None, "not an integer", value)
    if not 1 <= number <= 9999:
        raise FieldError(None, "out of range 1..9999", value)
    return number


def _price(value: Any) -> Decimal | None:
    if _empty(value):
        return None
    if isinstance(value, bool) or not isinstance(value, str | _NUMBER | Decimal):
        raise FieldError(None, "not a number", value)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise FieldError(None, "not a number", value) from None
    if not number.is_finite():
        raise FieldError(None, "not a number", value)
    if number < 0:
        raise FieldError(None, "negative", value)
    if number >= _MAX_PRICE:
        raise FieldError(None, "too large (at most 9999999999.99)", value)
    return number.quantize(_CENTS)


def _popularity(value: Any) -> float:
    if _empty(value):
        return 0.0
    if isinstance(value, bool) or not isinstance(value, str | _NUMBER):
        raise FieldError(None, "not a number", value)
    try:
        number = float(value)
    except ValueError:
        raise FieldError(None, "not a number", value) from None
    if not math.isfinite(number) or abs(number) > _MAX_REAL:
        raise FieldError(None, "not a finite number", value)
    return number


def _available(value: Any) -> bool:
    if _empty(value):
        return True
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise FieldError(None, "not a boolean (true/false, yes/no, 1/0)", value)


def _attributes(value: Any) -> dict[str, Any]:
    if _empty(value):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_constant=reject_constant)
        except ValueError as err:
            raise FieldError(None, f"malformed JSON ({err})", value) from None
    if not isinstance(value, dict):
        raise FieldError(None, "not a JSON object", value)
    return value


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "external_id": _required,
    "title": _required,
    "description": _text,
    "kind": _kind,
    "categories": _list,
    "tags": _list,
    "year": _year,
    "price": _price,
    "available": _available,
    "popularity": _popularity,
    "attributes": _attributes,
}
FIELDS = tuple(_PARSERS)


# Parsers for values whose text is already normalised (a format mapper working on cleaned
# cells): the same checks without the text pass, which is most of the validation time.
def _given_text(value: Any) -> str:
    return value if type(value) is str else _text(value)


def _given_required(value: Any) -> str:
    text = _given_text(value)
    if not text:
        raise FieldError(None, "required, but missing or blank", value)
    return text


def _given_kind(value: Any) -> str:
    return _given_text(value) or "item"


def _given_list(value: Any) -> list[str]:
    return value if type(value) is list else _list(value)


_CLEAN_PARSERS = _PARSERS | {
    "external_id": _given_required,
    "title": _given_required,
    "description": _given_text,
    "kind": _given_kind,
    "categories": _given_list,
    "tags": _given_list,
}


def normalise_item(
    data: Mapping[str, Any], *, names: Mapping[str, str] | None = None, clean: bool = False
) -> ItemRecord:
    """One item as a normalised record; raises InvalidItem listing every bad field.

    `names` renames fields in error messages (to the source column, e.g. `show_id`).
    `clean` promises that every string in `data` is already normalised and every list free
    of blanks and repeats (a format mapper's output): only the text pass is skipped.
    """
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for key, parse in (_CLEAN_PARSERS if clean else _PARSERS).items():
        try:
            values[key] = parse(data.get(key))
        except FieldError as err:
            err.field = (names or {}).get(key, key)
            errors.append(err)
    if not errors:
        attributes = values["attributes"]
        if not data.keys() <= _PARSERS.keys():
            extra = {k: v for k, v in data.items() if k not in _PARSERS and not _empty(v)}
            attributes = extra | attributes
        try:
            values["attributes"] = attributes if clean else clean_json(attributes)
        except ValueError as err:
            name = (names or {}).get("attributes", "attributes")
            errors.append(FieldError(name, str(err), attributes))
    if errors:
        raise InvalidItem(errors)
    return ItemRecord(**values)


class Deduplicator:
    """Remembers the line of each external_id so that a repeat names the first one."""

    def __init__(self, names: Mapping[str, str] | None = None, where: str = "on line") -> None:
        self._seen: dict[str, int] = {}
        self._field = (names or {}).get("external_id", "external_id")
        self._where = where

    def check(self, record: ItemRecord, line: int) -> None:
        """Raise FieldError when the record's external_id was already seen."""
        first = self._seen.setdefault(record.external_id, line)
        if first != line:
            reason = f"duplicate external_id (first {self._where} {first})"
            raise FieldError(self._field, reason, record.external_id)


@dataclass(slots=True)
class Validated:
    """The outcome of validating a batch: the good records and one error per bad field."""

    records: list[ItemRecord]
    errors: list[RowError]


def validate_items(
    *, items: Sequence[Mapping[str, Any]], source: str = "request", first: int = 1
) -> Validated:
    """Normalise a batch (e.g. a POST body); errors give `source` and positions from `first`."""
    out = Validated([], [])
    seen = Deduplicator(where="at item")
    for position, data in enumerate(items, start=first):
        try:
            if not isinstance(data, Mapping):
                raise FieldError(None, "not an object", data)
            record = normalise_item(data)
            seen.check(record, position)
        except InvalidItem as bad:
            out.errors.extend(row_error(source, position, e) for e in bad.errors)
            continue
        except FieldError as err:
            out.errors.append(row_error(source, position, err))
            continue
        out.records.append(record)
    return out
