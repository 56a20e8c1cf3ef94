"""Batches of interactions written without deadlocks, each event's outcome reported.

Two batches naming the same events in different orders used to deadlock: `INSERT ... ON
CONFLICT DO NOTHING` takes its locks row by row in the order it inserts. Here every lock is
taken in one global order: first the named items, `FOR KEY SHARE` in id order (a concurrent
DELETE of one of them then either waits for this batch or has already removed it, which makes
that event "unknown_item" instead of a foreign-key failure of the whole batch), then the
interactions, inserted sorted by their unique key. Deadlocks that remain possible elsewhere
(and serialization failures) are retried by `retrying` a bounded number of times.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, TypeVar

import psycopg
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

Outcome = Literal["stored", "duplicate", "unknown_item"]
T = TypeVar("T")
# 40001 serialization_failure, 40P01 deadlock_detected: the transaction may simply be rerun.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
ATTEMPTS = 4


class WriteConflict(Exception):
    """A write kept colliding with concurrent ones after every retry (answer 409, retryable)."""

    def __init__(self, sqlstate: str, attempts: int) -> None:
        reason = "deadlock" if sqlstate == "40P01" else "serialization failure"
        super().__init__(f"write conflict ({reason}) persisted after {attempts} attempts")
        self.sqlstate = sqlstate
        self.reason = reason


@dataclass(frozen=True)
class Event:
    """One event of a batch; the item by `item_id` or by `external_id`."""

    user_id: str
    event: str
    item_id: int | None
    external_id: str | None
    value: float | None
    occurred_at: dt.datetime | None
    request_id: str | None = None  # the served list this event answers (X-Request-ID)


def retrying(
    begin: Callable[[], AbstractContextManager[Connection]],
    work: Callable[[Connection], T],
    *,
    attempts: int = ATTEMPTS,
) -> T:
    """Run `work` in a transaction from `begin` (e.g. `engine.begin`), rerun on deadlock or
    serialization failure; also when `work` met it on the driver's own cursor (the item
    writer's COPY and upsert), whose errors SQLAlchemy does not wrap."""
    for attempt in range(1, attempts + 1):
        try:
            with begin() as conn:
                return work(conn)
        except (DBAPIError, psycopg.Error) as exc:
            orig = exc.orig if isinstance(exc, DBAPIError) else exc
            sqlstate = getattr(orig, "sqlstate", None) or ""
            if sqlstate not in RETRYABLE_SQLSTATES:
                raise
            if attempt == attempts:
                raise WriteConflict(sqlstate, attempts) from exc
            log.info("write conflict %s, attempt %d of %d: retrying", sqlstate, attempt, attempts)
            time.sleep(0.01 * 2**attempt)  # back off so the other writer can finish
    raise AssertionError("unreachable")


def _lock_items(conn: Connection, events: Sequence[Event]) -> tuple[set[int], dict[str, int]]:
    """Lock the named items that exist (KEY SHARE, id order): ids and external_id -> id."""
    ids = sorted({e.item_id for e in events if e.item_id is not None})
    external = sorted({e.external_id for e in events if e.external_id is not None})
    rows = conn.execute(
        text(
            "SELECT id, external_id FROM items"
            " WHERE id = ANY(CAST(:ids AS bigint[])) OR external_id = ANY(CAST(:ext AS text[]))"
            " ORDER BY id FOR KEY SHARE"
        ),
        {"ids": ids, "ext": external},
    ).all()
    return {int(r.id) for r in rows}, {r.external_id: int(r.id) for r in rows}


def record_interactions(*, conn: Connection, events: Sequence[Event]) -> list[Outcome]:
    """Insert the events of known items; one outcome per event, in the batch's order.

    An event without `occurred_at` happens at the transaction's start; an event repeated
    within the batch or already stored is a "duplicate".
    """
    known, by_external = _lock_items(conn, events)
    now: dt.datetime = conn.execute(text("SELECT now()")).scalar_one()
    outcomes: list[Outcome] = []
    keys: list[tuple[str, int, str, dt.datetime] | None] = []
    rows: dict[tuple[str, int, str, dt.datetime], tuple[float | None, str | None]] = {}
    for e in events:
        if e.item_id is not None:
            item = e.item_id if e.item_id in known else None
        else:
            item = by_external.get(e.external_id or "")
        if item is None:
            outcomes.append("unknown_item")
            keys.append(None)
            continue
        key = (e.user_id, item, e.event, e.occurred_at or now)
        keys.append(key)
        outcomes.append("duplicate")
        rows.setdefault(key, (e.value, e.request_id))
    stored = _insert_sorted(conn, rows)
    seen: set[tuple[str, int, str, dt.datetime]] = set()
    for i, maybe in enumerate(keys):
        if maybe is not None and maybe in stored and maybe not in seen:
            outcomes[i] = "stored"
            seen.add(maybe)
    return outcomes


def _insert_sorted(
    conn: Connection, rows: dict[tuple[str, int, str, dt.datetime], tuple[float | None, str | None]]
) -> set[tuple[str, int, str, dt.datetime]]:
    """Insert in unique-key order (the fixed lock order); the keys that were new."""
    if not rows:
        return set()
    ordered = sorted(rows)
    result = conn.execute(
        text(
            "INSERT INTO interactions (user_id, item_id, event, value, occurred_at, request_id)"
            " SELECT t.user_id, t.item_id, t.event, t.value, t.occurred_at, t.request_id"
            " FROM unnest(CAST(:users AS text[]), CAST(:items AS bigint[]),"
            " CAST(:events AS text[]), CAST(:vals AS real[]), CAST(:times AS timestamptz[]),"
            " CAST(:requests AS uuid[]))"
            " WITH ORDINALITY AS t(user_id, item_id, event, value, occurred_at, request_id, ord)"
            " ORDER BY t.ord"
            " ON CONFLICT DO NOTHING"
            " RETURNING user_id, item_id, event, occurred_at"
        ),
        {
            "users": [k[0] for k in ordered],
            "items": [k[1] for k in ordered],
            "events": [k[2] for k in ordered],
            "vals": [rows[k][0] for k in ordered],
            "requests": [rows[k][1] for k in ordered],
            "times": [k[3] for k in ordered],
        },
    ).all()
    return {(r.user_id, int(r.item_id), r.event, r.occurred_at) for r in result}
