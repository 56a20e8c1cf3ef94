"""Retrieval functions, one per mode: thin Python wrappers over the SQL functions in `rec`.

CONTRACT (stub written by the integrator so that the API and the SQL work can proceed in
parallel). The SQL work replaces the bodies; the names, keyword-only signatures and return
types stay. Every function takes an SQLAlchemy `Connection` and runs in its transaction.
Scores are "higher is better". `filters` restrict the candidates (full recall: the true
top-k among matching items). Ids are items.id (bigint).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection


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
        raise NotImplementedError

    def is_empty(self) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Hit:
    item_id: int
    score: float


@dataclass(frozen=True)
class MoreLike:
    hits: list[Hit]
    missing_ids: list[int]


def active_model(*, conn: Connection) -> tuple[str, int]:
    """(name, dim) of the active embedding model."""
    raise NotImplementedError


def semantic(
    *, conn: Connection, model: str, vector: np.ndarray, k: int, filters: Filters
) -> list[Hit]:
    """Nearest items to `vector` under `model` among those matching `filters` (exact top-k)."""
    raise NotImplementedError


def similar_items(*, conn: Connection, item_id: int, k: int, filters: Filters) -> list[Hit]:
    """Items nearest to `item_id` (itself excluded); raises LookupError for an unknown id."""
    raise NotImplementedError


def search_terms(*, conn: Connection, q: str, k: int, filters: Filters) -> list[Hit]:
    """websearch_to_tsquery over items.search_tsv, ranked by ts_rank_cd."""
    raise NotImplementedError


def search_title(*, conn: Connection, q: str, k: int, filters: Filters) -> list[Hit]:
    """Trigram similarity of pgrec_norm_title(title) to the normalised query."""
    raise NotImplementedError


def more_like(
    *,
    conn: Connection,
    positive: Sequence[int],
    negative: Sequence[int],
    weights: Mapping[int, float] | None,
    k: int,
    filters: Filters,
) -> MoreLike:
    """avg_pos + (avg_pos - avg_neg); inputs excluded; unknown ids in `missing_ids`."""
    raise NotImplementedError


def for_user(*, conn: Connection, user_id: str, k: int, filters: Filters) -> list[Hit]:
    """From the user's interactions (event weights, recency decay); seen items excluded."""
    raise NotImplementedError


def fetch_items(*, conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Item rows by id (all public columns), for building responses."""
    raise NotImplementedError
