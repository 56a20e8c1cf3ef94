"""The metadata filters every retrieval mode takes, and the error a bad filter value raises."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


class InvalidInput(ValueError):
    """A filter (or k, model, weights) that rec.* refuses; `key` names the offending input.

    The SQL functions raise SQLSTATE 22023 with the key in the error's COLUMN field; the
    wrappers turn that into this exception so the API can answer 400 with the message.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _strings(key: str, values: Iterable[str]) -> list[str]:
    # A bare string is a sequence too: "drama" must not become ["d", "r", ...].
    if isinstance(values, str):
        raise InvalidInput(f"invalid {key}: {values!r} (expected a list of strings)", key)
    return list(values)


@dataclass(frozen=True)
class Filters:
    """Metadata filters shared by every mode; `to_json()` is what `rec.*` functions take."""

    categories: tuple[str, ...] = ()
    categories_mode: Literal["any", "all"] = "any"
    tags: tuple[str, ...] = ()  # any of
    kinds: tuple[str, ...] = ()  # any of
    year_min: int | None = None
    year_max: int | None = None
    price_min: float | None = None
    price_max: float | None = None
    available: bool | None = None
    # attr.country=India: equal to a scalar attribute, or an element of a list attribute.
    attributes: Mapping[str, str] = field(default_factory=dict)
    exclude_ids: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The set filters only, as rec.filter_sql expects them (values are checked there)."""
        out: dict[str, Any] = {}
        if self.categories:
            out["categories"] = _strings("categories", self.categories)
            out["categories_mode"] = self.categories_mode
        if self.tags:
            out["tags"] = _strings("tags", self.tags)
        if self.kinds:
            out["kinds"] = _strings("kinds", self.kinds)
        for key in ("year_min", "year_max", "price_min", "price_max", "available"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        if self.exclude_ids:
            out["exclude_ids"] = list(self.exclude_ids)
        return out

    def is_empty(self) -> bool:
        """True when nothing is filtered (not even excluded ids)."""
        return not self.to_json()
