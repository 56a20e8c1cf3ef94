"""The normalised item record and the errors that validation reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

_VALUE_SHOWN = 80


@dataclass(slots=True)
class ItemRecord:
    """One catalog item, normalised and ready to write."""

    external_id: str
    title: str
    description: str = ""
    kind: str = "item"
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    year: int | None = None
    price: Decimal | None = None
    available: bool = True
    attributes: dict[str, Any] = field(default_factory=dict)
    popularity: float = 0.0


class FieldError(ValueError):
    """One field of one row is invalid; `field` None means the row as a whole."""

    def __init__(self, field: str | None, reason: str, value: Any = None) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.value = value


class InvalidItem(ValueError):
    """An item with one or more invalid fields."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row: where it starts (file line, or position in a request), field, why.

    Rendered as `FILE:LINE: field 'x': reason (value 'y')`.
    """

    source: str
    line: int
    field: str | None
    reason: str
    value: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}: "
        what = f"field '{self.field}': {self.reason}" if self.field else self.reason
        return where + what + (f" (value '{self.value}')" if self.value is not None else "")


def row_error(source: str, line: int, err: FieldError) -> RowError:
    """A FieldError placed at `source:line`, its value shortened for a one-line report."""
    return RowError(source, line, err.field, err.reason, show_value(err.value))


def show_value(value: Any) -> str | None:
    """A value as an error message shows it: one line, escaped, at most 80 characters."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= _VALUE_SHOWN else text[: _VALUE_SHOWN - 3] + "..."


def reject_constant(name: str) -> Any:
    """json.loads hook: NaN and Infinity are not JSON, and Postgres' jsonb refuses them."""
    raise ValueError(f"{name} is not valid JSON")
