"""Request and response bodies (msgspec structs: validated on the way in, documented in /schema)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from db.models import EVENTS

# items.id is a bigint: larger ids are refused by validation (400), not by the database.
INT64_MAX = 2**63 - 1
ItemId = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
Event = Literal["view", "click", "like", "purchase", "rating"]
assert set(Event.__args__) == set(EVENTS)  # type: ignore[attr-defined]


class ModeScore(msgspec.Struct):
    rank: int
    score: float


class ItemRef(msgspec.Struct):
    id: int
    title: str


class Explain(msgspec.Struct, omit_defaults=True):
    """Why a result is where it is: its place in each mode, then the re-ranking terms.

    The user mode adds why it was recommended at all: `source` (cooc, interest, popular or
    fresh), `reason` in words ("liked Alien and Aliens") and the items it names (`because`).
    """

    modes: dict[str, ModeScore]
    relevance: float  # retrieval score normalised over the candidates
    freshness: float
    popularity: float
    redundancy: float  # max cosine to results above it (diversity)
    final: float
    source: str | UnsetType = UNSET
    reason: str | UnsetType = UNSET
    because: list[ItemRef] | UnsetType = UNSET


class Result(msgspec.Struct, omit_defaults=True):
    """One recommended item: id, external_id, title, score, then the requested `fields`."""

    id: int
    external_id: str
    title: str
    score: float
    description: str | UnsetType = UNSET
    kind: str | UnsetType = UNSET
    categories: list[str] | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET
    year: int | UnsetType | None = UNSET
    price: float | UnsetType | None = UNSET
    available: bool | UnsetType = UNSET
    attributes: dict[str, Any] | UnsetType = UNSET
    popularity: float | UnsetType = UNSET
    created_at: dt.datetime | UnsetType = UNSET
    updated_at: dt.datetime | UnsetType = UNSET
    explain: Explain | UnsetType = UNSET


class Page(msgspec.Struct, omit_defaults=True):
    """A list of results; `backend` says what answered: `faiss` (the in-process read model,
    whose version is `snapshot_version`) or `postgres`. `stale`: answered from the read model
    while Postgres is unreachable (or before it caught up again): recent changes may be missing.

    `ranker`: the scoring stage's version for the user mode ("fallback" when none is trained).
    `request_id` (also the X-Request-ID header) names this impression; `variant` the A/B arm.
    """

    mode: str
    backend: str
    count: int
    results: list[Result]
    snapshot_version: int | None = None
    stale: bool = False
    missing_ids: list[int] | UnsetType = UNSET
    ranker: str | UnsetType = UNSET
    # The impression: quote request_id on /interactions so clicks join to this list.
    request_id: str | UnsetType = UNSET
    variant: str | UnsetType = UNSET


class Item(msgspec.Struct):
    id: int
    external_id: str
    title: str
    description: str
    kind: str
    categories: list[str]
    tags: list[str]
    year: int | None
    price: float | None
    available: bool
    attributes: dict[str, Any]
    popularity: float
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class FacetValue(msgspec.Struct):
    value: str
    items: int


class Facets(msgspec.Struct):
    """What the filters can match: the most common values, each with its number of items.

    `kind` matches in any case (the most common spelling is shown); `category` and `tag`
    match exactly as shown.
    """

    kinds: list[FacetValue]
    categories: list[FacetValue]
    tags: list[FacetValue]


class FromItems(msgspec.Struct, forbid_unknown_fields=True):
    """More like these: liked (`positive`) and disliked (`negative`) item ids, optional weights.

    With `user_id`, the user mode answers instead: the user's history plus these items,
    scored by the ranking model (the user's items and these are not recommended back);
    `weights` do not apply then.
    """

    positive: Annotated[list[ItemId], msgspec.Meta(min_length=1, max_length=100)]
    negative: Annotated[list[ItemId], msgspec.Meta(max_length=100)] = []
    weights: dict[ItemId, Annotated[float, msgspec.Meta(gt=0, le=1000)]] = {}
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class InteractionIn(msgspec.Struct, forbid_unknown_fields=True):
    """One event; name the item by `item_id` or by `external_id`."""

    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    event: Event
    item_id: ItemId | None = None
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] | None = None
    # A weight or a rating (0..5); bounded so that it fits the database's real.
    value: Annotated[float, msgspec.Meta(ge=-1e6, le=1e6)] | None = None
    occurred_at: dt.datetime | None = None
    # The X-Request-ID of the list this event answers (click-through per variant).
    request_id: str | None = None


class InteractionsWritten(msgspec.Struct):
    received: int
    inserted: int
    duplicates: int
    missing_item_ids: list[int]
    missing_external_ids: list[str]
    # One per event, in the batch's order.
    outcomes: list[Literal["stored", "duplicate", "unknown_item"]] = []


class ItemsWritten(msgspec.Struct):
    received: int
    inserted: int
    updated: int
    unchanged: int
    ids: dict[str, int]  # external_id -> items.id


class LoadAccepted(msgspec.Struct):
    status: Literal["loading", "ready"]
    ready: bool
