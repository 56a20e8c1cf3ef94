"""Query parameters shared by every list endpoint: filters, n, fields, explain, re-ranking.

They are Litestar dependencies, so they are validated (400 naming the parameter) and
documented in the OpenAPI schema once, and every endpoint parses them the same way.
`attr.<name>=<value>` parameters have dynamic names, so they are read from the raw query.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeAlias, TypeVar

from litestar import Controller, Request
from litestar.di import Dependency, Provide
from litestar.params import FromQuery, QueryParameter, SkipValidationMarker

from api.auth import require_read_key
from api.errors import BadParameter
from api.rerank import RerankOptions
from db.catalog import ITEM_COLUMNS
from db.recs import Filters

Mode = Literal["semantic", "terms", "title", "hybrid"]
T = TypeVar("T")
# A handler argument injected by name, as is (our own objects need no validation).
Injected: TypeAlias = Annotated[T, Dependency(kind="named"), SkipValidationMarker()]

# What `fields=` may ask for, beyond the id, external_id, title and score every result has.
ITEM_FIELDS = tuple(c for c in ITEM_COLUMNS if c not in ("external_id", "title"))
GROUP_FIELDS = ("kind", "year", "category", "available")
ATTR_PREFIX = "attr."
MAX_LIST = 1000  # values of one repeated parameter (exclude ids, categories, ...)
MAX_TEXT = 500
CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

FILTER_PARAMS = frozenset(
    {
        "category",
        "category_mode",
        "tag",
        "kind",
        "year_min",
        "year_max",
        "price_min",
        "price_max",
        "available",
        "exclude",
    }
)
LIST_PARAMS = frozenset(
    {"n", "fields", "explain", "diversity", "freshness", "popularity", "group_by", "group_cap"}
    | {"variant"}  # an A/B variant by name (api/variants.py)
)


@dataclass(frozen=True)
class ListOptions:
    n: int = 10
    fields: tuple[str, ...] = ()
    explain: bool = False
    rerank: RerankOptions = field(default_factory=RerankOptions)
    fusion: tuple[tuple[str, float], ...] = ()  # hybrid: a weight per list (from a variant)
    ranker: str | None = None  # user mode: the ranking-model version (from a variant)


def check_known(request: Request[Any, Any, Any], allowed: frozenset[str]) -> None:
    """400 for a query parameter the endpoint does not take (a typo silently ignored is worse)."""
    for name in request.query_params:
        if name in allowed or (name.startswith(ATTR_PREFIX) and ATTR_PREFIX in allowed):
            continue
        known = ", ".join(sorted(allowed))
        raise BadParameter(name, f"unknown query parameter (known: {known}, attr.<name>)")


def check_text(name: str, value: str) -> str:
    """The one policy for control characters in API input (queries, ids, item fields):
    NUL (which Postgres text cannot hold) and the other C0 controls and DEL are refused,
    tab, CR and LF are whitespace. File ingest instead normalises them (db/ingest/text.py)."""
    found = CONTROL_CHARS.search(value)
    if found is not None:
        char = f"U+{ord(found.group()):04X}"
        what = "NUL characters" if char == "U+0000" else f"control characters ({char})"
        raise BadParameter(name, f"must not contain {what}")
    return value


def check_texts(name: str, value: Any) -> None:
    """`check_text` on every string in a JSON value (keys included), naming the path."""
    if isinstance(value, str):
        check_text(name, value)
    elif isinstance(value, dict):
        for key, inner in value.items():
            check_text(name, str(key))
            check_texts(f"{name}.{key}", inner)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            check_texts(f"{name}[{i}]", inner)


def _texts(name: str, values: list[str] | None, *, split: bool = False) -> tuple[str, ...]:
    out: list[str] = []
    for raw in values or []:
        for value in raw.split(",") if split else [raw]:
            value = check_text(name, value.strip())
            if not value:
                raise BadParameter(name, "must not be empty")
            if len(value) > MAX_TEXT:
                raise BadParameter(name, f"longer than {MAX_TEXT} characters")
            out.append(value)
    if len(out) > MAX_LIST:
        raise BadParameter(name, f"at most {MAX_LIST} values")
    return tuple(dict.fromkeys(out))


def _ids(name: str, values: list[str] | None) -> tuple[int, ...]:
    ids: list[int] = []
    for value in _texts(name, values, split=True):
        if not value.isascii() or not value.isdigit() or len(value) > 18:
            raise BadParameter(name, f"{value!r} is not an item id")
        ids.append(int(value))
    return tuple(ids)


def _attributes(request: Request[Any, Any, Any]) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if not key.startswith(ATTR_PREFIX):
            continue
        name = check_text(key, key[len(ATTR_PREFIX) :].strip())
        if not name or len(name) > 64:
            raise BadParameter(key, "attribute name must be 1..64 characters (attr.<name>)")
        if name in attrs:
            raise BadParameter(key, "given more than once")
        value = check_text(key, value.strip())
        if not value or len(value) > MAX_TEXT:
            raise BadParameter(key, f"value must be 1..{MAX_TEXT} characters")
        attrs[name] = value
    return attrs


def _finite(name: str, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise BadParameter(name, "must be a finite number")
    return value


def provide_filters(
    request: Request[Any, Any, Any],
    category: Annotated[
        list[str] | None, QueryParameter(description="Category (repeat for several).")
    ] = None,
    category_mode: Annotated[
        Literal["any", "all"], QueryParameter(description="Match any or all categories.")
    ] = "any",
    tag: Annotated[list[str] | None, QueryParameter(description="Tag (any of).")] = None,
    kind: Annotated[list[str] | None, QueryParameter(description="Kind (any of).")] = None,
    year_min: Annotated[int | None, QueryParameter(ge=0, le=9999)] = None,
    year_max: Annotated[int | None, QueryParameter(ge=0, le=9999)] = None,
    price_min: Annotated[float | None, QueryParameter(ge=0)] = None,
    price_max: Annotated[float | None, QueryParameter(ge=0)] = None,
    available: FromQuery[bool | None] = None,
    exclude: Annotated[
        list[str] | None, QueryParameter(description="Item ids to leave out (repeat or comma).")
    ] = None,
) -> Filters:
    """Filters from the query; `attr.<name>=<value>` matches an attribute (or a list element)."""
    allowed = request.route_handler.opt.get("query")
    if allowed is not None:
        check_known(request, allowed)
    if year_min is not None and year_max is not None and year_min > year_max:
        raise BadParameter("year_min", f"{year_min} is greater than year_max ({year_max})")
    _finite("price_min", price_min)
    _finite("price_max", price_max)
    if price_min is not None and price_max is not None and price_min > price_max:
        raise BadParameter("price_min", f"{price_min} is greater than price_max ({price_max})")
    return Filters(
        categories=_texts("category", category),
        categories_mode=category_mode,
        tags=_texts("tag", tag),
        kinds=_texts("kind", kind),
        year_min=year_min,
        year_max=year_max,
        price_min=price_min,
        price_max=price_max,
        available=available,
        attributes=_attributes(request),
        exclude_ids=_ids("exclude", exclude),
    )


def provide_list_options(
    n: Annotated[int, QueryParameter(ge=1, le=100, description="Number of results.")] = 10,
    fields: Annotated[
        list[str] | None,
        QueryParameter(description=f"Extra item fields to return: {', '.join(ITEM_FIELDS)}."),
    ] = None,
    explain: Annotated[
        bool, QueryParameter(description="Show each result's rank and score per mode.")
    ] = False,
    diversity: Annotated[float, QueryParameter(ge=0, le=1, description="MMR weight.")] = 0.0,
    freshness: Annotated[float, QueryParameter(ge=0, le=1, description="Recent-year boost.")] = 0.0,
    popularity: Annotated[float, QueryParameter(ge=0, le=1, description="Popularity boost.")] = 0.0,
    group_by: Annotated[
        str | None,
        QueryParameter(description=f"Cap results per {', '.join(GROUP_FIELDS)} or attr.<name>."),
    ] = None,
    group_cap: Annotated[int | None, QueryParameter(ge=1, le=100)] = None,
) -> ListOptions:
    """n, fields, explain and the re-ranking options."""
    _finite("diversity", diversity)
    _finite("freshness", freshness)
    _finite("popularity", popularity)
    wanted = _texts("fields", fields, split=True)
    for name in wanted:
        if name not in ITEM_FIELDS:
            known = ", ".join(ITEM_FIELDS)
            raise BadParameter("fields", f"unknown field {name!r} (known: {known})")
    if group_by is not None:
        group_by = group_by.strip()
        attr = group_by.startswith(ATTR_PREFIX) and len(group_by) > len(ATTR_PREFIX)
        if group_by not in GROUP_FIELDS and not attr:
            known = ", ".join((*GROUP_FIELDS, "attr.<name>"))
            raise BadParameter("group_by", f"unknown field {group_by!r} (known: {known})")
    elif group_cap is not None:
        raise BadParameter("group_cap", "needs group_by")
    return ListOptions(
        n=n,
        fields=wanted,
        explain=explain,
        rerank=RerankOptions(
            diversity=diversity,
            freshness=freshness,
            popularity=popularity,
            group_by=group_by,
            group_cap=group_cap or 1,
        ),
    )


def provide_query(
    q: Annotated[str | None, QueryParameter(description="Query text.", max_length=MAX_TEXT)] = None,
) -> str:
    """The query text: required and not blank."""
    if q is None:
        raise BadParameter("q", "required")
    if not q.strip():
        raise BadParameter("q", "must not be empty")
    return check_text("q", q.strip())


LIST_DEPENDENCIES = {
    "filters": Provide(provide_filters, sync_to_thread=False),
    "options": Provide(provide_list_options, sync_to_thread=False),
}
# Every list endpoint accepts these query parameters (plus attr.<name>).
LIST_QUERY = FILTER_PARAMS | LIST_PARAMS | {ATTR_PREFIX}


class ListController(Controller):
    """A resource whose every route answers a list: the list parameters, and the read key."""

    dependencies = LIST_DEPENDENCIES
    guards = (require_read_key,)
