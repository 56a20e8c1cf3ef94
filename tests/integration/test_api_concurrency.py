"""Concurrent writes through a real server: no deadlocks, every event accounted for.

Two clients post the same events in opposite orders at the same time (issue 15, defect 2);
an item deleted while a batch naming it waits is reported for that event only (defect 3);
serialization failures are retried inside the server, then answered 409 (never 503).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Connection, create_engine, text

from db.engine import sqlalchemy_url
from db.interactions import WriteConflict, retrying
from tests.support.api import API_KEY, make_app, running_server, seed

KEY = {"X-API-Key": API_KEY}
EVENTS = ("view", "click", "like", "purchase")


def _batches(ids: list[int], users: int) -> list[list[dict[str, Any]]]:
    """Overlapping batches: each names every (user, item, event) of its users."""
    batches = []
    for first in range(0, users, 2):
        batch = [
            {"user_id": f"u{u}", "item_id": i, "event": e, "occurred_at": "2026-01-01T00:00:00Z"}
            for u in (first, first + 1)
            for i in ids
            for e in EVENTS
        ]
        batches.append(batch)
    return batches


def _post_all(
    base: str, batches: list[list[dict[str, Any]]], out: list[httpx.Response]
) -> Callable[[], None]:
    def run() -> None:
        with httpx.Client(base_url=base, headers=KEY, timeout=60) as http:
            out.extend(http.post("/interactions", json=b) for b in batches)

    return run


def test_opposite_orders_never_deadlock(fresh_db_url: str) -> None:
    catalog = seed(fresh_db_url)
    ids = sorted(catalog.ids.values())[:12]
    batches = _batches(ids, users=16)
    reversed_batches = [list(reversed(b)) for b in reversed(batches)]
    with running_server(make_app(fresh_db_url)) as base:
        a: list[httpx.Response] = []
        b: list[httpx.Response] = []
        threads = [
            threading.Thread(target=_post_all(base, batches, a)),
            threading.Thread(target=_post_all(base, reversed_batches, b)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    answers = a + b
    assert len(answers) == 2 * len(batches)
    assert [r.status_code for r in answers] == [200] * len(answers), [r.text for r in answers]
    outcomes = Counter(o for r in answers for o in r.json()["outcomes"])
    unique = sum(len(x) for x in batches)
    # Each distinct event stored exactly once, the other copy reported as a duplicate.
    assert outcomes == {"stored": unique, "duplicate": unique}
    with psycopg.connect(fresh_db_url) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM interactions WHERE occurred_at = '2026-01-01T00:00:00Z'"
        ).fetchone()
    assert stored is not None and stored[0] == unique


def test_item_deleted_mid_batch_is_one_unknown_event(fresh_db_url: str) -> None:
    catalog = seed(fresh_db_url)
    keep, doomed = sorted(catalog.ids.values())[:2]
    batch = [
        {"user_id": "del", "item_id": keep, "event": "view"},
        {"user_id": "del", "item_id": doomed, "event": "view"},
        {"user_id": "del", "item_id": keep, "event": "like"},
    ]
    with running_server(make_app(fresh_db_url)) as base, psycopg.connect(fresh_db_url) as deleter:
        # The delete holds its row lock while the batch starts: the batch waits for it.
        deleter.execute("DELETE FROM items WHERE id = %s", (doomed,))
        answer: list[httpx.Response] = []
        thread = threading.Thread(target=_post_all(base, [batch], answer))
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive()  # blocked on the deleted row
        deleter.commit()
        thread.join(timeout=60)
    (r,) = answer
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcomes"] == ["stored", "unknown_item", "stored"]
    assert body["missing_item_ids"] == [doomed] and body["inserted"] == 2


def _conflict_once(url: str, done: list[int]) -> Callable[[Connection], int]:
    """Work that hits a real serialization failure on its first run."""

    def work(conn: Connection) -> int:
        done.append(1)
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        conn.execute(text("SELECT popularity FROM items WHERE id = 1")).all()
        if len(done) == 1:
            with psycopg.connect(url, autocommit=True) as other:
                other.execute("UPDATE items SET popularity = popularity + 1 WHERE id = 1")
        conn.execute(text("UPDATE items SET popularity = popularity + 1 WHERE id = 1"))
        return len(done)

    return work


def test_serialization_failures_are_retried_then_a_conflict(fresh_db_url: str) -> None:
    seed(fresh_db_url)
    engine = create_engine(sqlalchemy_url(fresh_db_url))
    try:
        assert retrying(engine.begin, _conflict_once(fresh_db_url, [])) == 2
        with pytest.raises(WriteConflict, match="serialization failure"):
            retrying(engine.begin, _conflict_once(fresh_db_url, []), attempts=1)
    finally:
        engine.dispose()


def test_a_deadlock_on_the_drivers_own_cursor_is_retried_too(fresh_db_url: str) -> None:
    """The item writer runs its COPY and upsert on psycopg's cursor, whose errors SQLAlchemy
    does not wrap: a deadlock there is retried like any other, then a conflict (409)."""
    runs: list[int] = []

    def work(conn: Connection) -> int:
        runs.append(1)
        if len(runs) == 1:
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '40P01'; END $$")
        return len(runs)

    engine = create_engine(sqlalchemy_url(fresh_db_url))
    try:
        assert retrying(engine.begin, work) == 2
        runs.clear()
        with pytest.raises(WriteConflict):
            retrying(engine.begin, work, attempts=1)
    finally:
        engine.dispose()
