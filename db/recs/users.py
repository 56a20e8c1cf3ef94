"""User mode and its parts: the hybrid list with reasons, popular, co-occurring, interests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from db.recs.calls import Hit, call_hits, filters_json, translated_errors
from db.recs.filters import Filters


@dataclass(frozen=True)
class UserHit:
    """One item of the user mode with why: `source` (cooc, interest, popular, fresh), the
    `reason` in words and the items it names (`because`, empty for popular and fresh)."""

    item_id: int
    score: float
    source: str
    reason: str
    because: tuple[int, ...]
    ranker: str  # the scoring stage's version, read in the same statement as the list


@dataclass(frozen=True)
class Interest:
    """One of a user's tastes: its share of the liked weight, its items (heaviest first)."""

    interest: int
    weight: float
    share: float
    items: tuple[int, ...]
    label: str | None


_FOR_USER = text("SELECT item_id, score FROM rec.for_user(:user_id, :k, CAST(:filters AS jsonb))")
# One statement, one snapshot: the version shown is the one that scored the list.
_EXPLAINED = text(
    "SELECT e.item_id, e.score, e.source, e.reason, e.because, r.version"
    " FROM rec.ranker() r, rec.for_user_explained(:user_id, :k, CAST(:filters AS jsonb),"
    " CAST(:positive AS bigint[]), CAST(:negative AS bigint[])) e"
)
_RANKER = text("SELECT version FROM rec.ranker()")
_POPULAR = text("SELECT item_id, score FROM rec.popular(:k, CAST(:filters AS jsonb))")
_COOCCURRING = text(
    "SELECT item_id, score FROM rec.cooccurring(:item, :k, CAST(:filters AS jsonb))"
)
_ALSO_LIKED = text(
    "SELECT item_id, score"
    " FROM rec.also_liked(CAST(:items AS bigint[]), :k, CAST(:filters AS jsonb))"
)
_ITEM_EXISTS = text("SELECT EXISTS (SELECT 1 FROM items WHERE id = :item)")
_INTERESTS = text(
    "SELECT interest, weight, share, items, label FROM rec.user_interests(:user_id, :max)"
)


def for_user(*, conn: Connection, user_id: str, k: int, filters: Filters) -> list[Hit]:
    """The hybrid user mode as (item_id, score); seen items excluded, popular for strangers."""
    params = {"user_id": user_id, "k": k, "filters": filters_json(filters)}
    return call_hits(conn, _FOR_USER, params)


def for_user_explained(
    *,
    conn: Connection,
    user_id: str,
    k: int,
    filters: Filters,
    positive: Sequence[int] = (),
    negative: Sequence[int] = (),
) -> list[UserHit]:
    """The hybrid user mode with reasons; `positive`/`negative` count as extra likes/dislikes."""
    params = {
        "user_id": user_id,
        "k": k,
        "filters": filters_json(filters),
        "positive": [int(i) for i in positive],
        "negative": [int(i) for i in negative],
    }
    with translated_errors():
        rows = conn.execute(_EXPLAINED, params).all()
    return [
        UserHit(
            int(r[0]), float(r[1]), str(r[2]), r[3] or "", tuple(int(i) for i in r[4] or ()), r[5]
        )
        for r in rows
    ]


def ranker_version(*, conn: Connection) -> str:
    """The version of the scoring stage rec.for_user uses now ('fallback' when none is trained)."""
    with translated_errors():
        return str(conn.execute(_RANKER).scalar_one())


def popular(*, conn: Connection, k: int, filters: Filters) -> list[Hit]:
    """Most preferred by users, then the catalog's popularity: the cold-start list."""
    return call_hits(conn, _POPULAR, {"k": k, "filters": filters_json(filters)})


def cooccurring(*, conn: Connection, item_id: int, k: int, filters: Filters) -> list[Hit]:
    """People who liked `item_id` also liked; raises LookupError for an unknown id."""
    params = {"item": item_id, "k": k, "filters": filters_json(filters)}
    hits = call_hits(conn, _COOCCURRING, params)
    # An item without a list (nobody shares its users yet) is normal; an unknown id is not.
    if not hits and not conn.execute(_ITEM_EXISTS, {"item": item_id}).scalar_one():
        raise LookupError(f"unknown item id {item_id}")
    return hits


def also_liked(*, conn: Connection, items: Sequence[int], k: int, filters: Filters) -> list[Hit]:
    """People who liked these items also liked: their co-occurrence lists summed."""
    params = {"items": [int(i) for i in items], "k": k, "filters": filters_json(filters)}
    return call_hits(conn, _ALSO_LIKED, params)


def user_interests(*, conn: Connection, user_id: str, max_interests: int = 3) -> list[Interest]:
    """The user's interests, heaviest first (none for an unknown user or without vectors)."""
    with translated_errors():
        rows = conn.execute(_INTERESTS, {"user_id": user_id, "max": max_interests}).all()
    return [
        Interest(int(r[0]), float(r[1]), float(r[2]), tuple(int(i) for i in r[3]), r[4])
        for r in rows
    ]
