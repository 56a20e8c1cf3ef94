"""item_cooccurrence and item_stats on real data, against a direct computation in plain Python.

The TMDB catalog and the MovieLens ratings of the first 40 users are loaded once into a
module database; each test clones it. `direct` (tests/support/cooccurrence.py) restates the
formula with dict loops over the raw events (it shares no code with the job), and the tests
compare the tables with it: scores within 1e-6, neighbours rank by rank (a swap is accepted
only between scores equal within 1e-6), co-user counts exactly.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, text

from db import cooccurrence as store
from db.engine import job_engine
from db.job_runs import lock_job, unlock_job
from jobs.cooccurrence import JOB, LOCK_SCOPE, Params, rebuild, refresh_cooccurrence
from tests.support.cli import MovieLensDatabase, pgrec, query
from tests.support.cooccurrence import assert_matches, differing, direct, list_rows
from tests.support.databases import private_database

USERS = 40


@pytest.fixture(scope="module")
def loaded(movielens_database: MovieLensDatabase) -> Iterator[str]:
    """A database with the TMDB catalog and the ratings of MovieLens users 1..40."""
    with movielens_database(USERS) as (url, summary):
        assert summary.written and summary.inserted > 3000
        yield url


@pytest.fixture
def db(server_url: str, loaded: str) -> Iterator[str]:
    with private_database(server_url, loaded) as url:
        yield url


def test_tables_equal_the_direct_computation(db: str) -> None:
    run = refresh_cooccurrence(url=db)
    want = direct(db)
    assert_matches(db, want)
    assert run.stats is not None and not run.unchanged
    assert run.stats.lists == len(want.lists) > 1000
    assert run.stats.pairs == len(want.pairs)
    assert run.stats.changed == len(want.lists)
    assert run.stats.rows_written == sum(len(v) for v in want.lists.values())
    # Equal stored scores rank by neighbour id; real ties abound (items one user likes).
    ties = query(
        db,
        "SELECT count(*) FILTER (WHERE a.neighbor_id > b.neighbor_id), count(*)"
        " FROM item_cooccurrence a JOIN item_cooccurrence b"
        " ON b.item_id = a.item_id AND b.rank = a.rank + 1 AND b.score = a.score",
    )
    assert ties[0][0] == 0 and ties[0][1] > 100
    state = query(db, "SELECT signature, details FROM job_state WHERE job = %s", JOB)
    assert state[0][0] == run.signature and "k=50 shrinkage=5.0 min_users=1" in run.signature
    assert state[0][1]["lists"] == run.stats.lists and state[0][1]["k"] == 50
    assert query(db, "SELECT job, status, items FROM job_runs") == [(JOB, "ok", run.stats.changed)]

    # Other parameters: another signature, another table, still the formula's.
    run = refresh_cooccurrence(url=db, k=7, shrinkage=0.0, min_users=3)
    assert not run.unchanged
    assert_matches(db, direct(db, k=7, shrinkage=0.0, min_users=3))


def test_a_second_run_is_unchanged_and_writes_nothing(db: str) -> None:
    refresh_cooccurrence(url=db)
    versions = list_rows(db)
    state = query(db, "SELECT * FROM job_state")
    stats = query(db, "SELECT item_id, xmin::text FROM item_stats ORDER BY 1")
    again = refresh_cooccurrence(url=db)
    assert again.unchanged and again.stats is None
    assert query(db, "SELECT * FROM job_state") == state
    forced = refresh_cooccurrence(url=db, force=True)
    assert forced.stats is not None
    assert (forced.stats.changed, forced.stats.rows_written, forced.stats.stats_written) == (
        0,
        0,
        0,
    )
    assert list_rows(db) == versions
    assert query(db, "SELECT item_id, xmin::text FROM item_stats ORDER BY 1") == stats


def test_new_events_of_one_user_rewrite_only_the_lists_they_change(db: str) -> None:
    refresh_cooccurrence(url=db)
    before, versions = direct(db), list_rows(db)
    rated = [r[0] for r in query(db, "SELECT item_id FROM interactions WHERE user_id = 'ml:2'")]
    fresh = query(
        db,
        "SELECT item_id FROM item_stats WHERE item_id <> ALL(%s) ORDER BY positive_users DESC,"
        " item_id LIMIT 2",
        rated,
    )
    events = [(fresh[0][0], "like"), (fresh[1][0], "purchase"), (rated[0], "view")]
    with psycopg.connect(db) as c:
        for item, event in events:
            c.execute(
                "INSERT INTO interactions (user_id, item_id, event) VALUES ('ml:2', %s, %s)",
                (item, event),
            )
    run = refresh_cooccurrence(url=db)
    after = direct(db)
    changed = differing(before, after)
    assert run.stats is not None and 0 < run.stats.changed == len(changed) < len(after.lists)
    assert_matches(db, after)
    now = list_rows(db)
    assert {i: v for i, v in now.items() if i not in changed} == {
        i: v for i, v in versions.items() if i not in changed
    }
    assert all(now.get(i) != versions.get(i) for i in changed)


def test_a_negative_rating_contributes_nothing(db: str) -> None:
    refresh_cooccurrence(url=db)
    versions = list_rows(db)
    popular = [r[0] for r in query(db, "SELECT item_id FROM item_stats ORDER BY 1 LIMIT 3")]
    stats = {r[0]: r[1:] for r in query(db, "SELECT * FROM item_stats")}
    with psycopg.connect(db) as c:
        for item, value in zip(popular, (1.0, 0.5, 2.5), strict=True):  # 2.5 weighs exactly 0
            c.execute(
                "INSERT INTO interactions (user_id, item_id, event, value)"
                " VALUES ('grumpy', %s, 'rating', %s)",
                (item, value),
            )
    run = refresh_cooccurrence(url=db)
    assert run.stats is not None and (run.stats.changed, run.stats.rows_written) == (0, 0)
    assert list_rows(db) == versions
    after = {r[0]: r[1:] for r in query(db, "SELECT * FROM item_stats")}
    for item in popular:
        users, positive, preference, _ = stats[item]
        assert after[item][:3] == (users + 1, positive, preference)
    assert_matches(db, direct(db))


def test_deleting_an_item_cascades(db: str) -> None:
    refresh_cooccurrence(url=db)
    item = query(
        db,
        "SELECT neighbor_id FROM item_cooccurrence GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
    )[0][0]
    with psycopg.connect(db) as c:
        c.execute("DELETE FROM items WHERE id = %s", (item,))
    assert query(
        db,
        "SELECT count(*) FROM item_cooccurrence WHERE %s IN (item_id, neighbor_id)"
        " UNION ALL SELECT count(*) FROM item_stats WHERE item_id = %s",
        item,
        item,
    ) == [(0,), (0,)]
    run = refresh_cooccurrence(url=db)
    assert not run.unchanged
    assert_matches(db, direct(db))


def test_rebuild_runs_in_the_callers_transaction(db: str) -> None:
    refresh_cooccurrence(url=db)
    versions, state = list_rows(db), query(db, "SELECT * FROM job_state")
    engine = job_engine(db)
    try:
        with engine.connect() as conn:
            conn.execute(text("DELETE FROM interactions WHERE user_id = 'ml:1'"))
            stats = rebuild(conn, Params(k=50))
            assert stats.changed > 0
            counts = conn.execute(
                text("SELECT item_id, count(*) FROM item_cooccurrence GROUP BY 1")
            ).all()
            inside = {int(item): int(n) for item, n in counts}
            conn.rollback()
    finally:
        engine.dispose()
    assert list_rows(db) == versions and query(db, "SELECT * FROM job_state") == state
    # What the rebuild saw inside: the lists without user 1's ratings.
    with psycopg.connect(db) as c:
        c.execute("DELETE FROM interactions WHERE user_id = 'ml:1'")
    want = direct(db)
    assert inside == {i: len(v) for i, v in want.lists.items()}


def test_two_runs_serialize_on_the_advisory_lock(db: str) -> None:
    engine = job_engine(db)
    results: list[Any] = []
    try:
        with engine.connect() as holder:
            lock_job(conn=holder, job=JOB, model=LOCK_SCOPE)
            holder.commit()
            threads = [
                threading.Thread(target=lambda: results.append(refresh_cooccurrence(url=db)))
                for _ in range(2)
            ]
            for t in threads:
                t.start()
            threads[0].join(1.5)
            assert threads[0].is_alive() and not results  # waiting for the lock
            assert query(db, "SELECT count(*) FROM item_cooccurrence") == [(0,)]
            unlock_job(conn=holder, job=JOB, model=LOCK_SCOPE)
            holder.commit()
            for t in threads:
                t.join(60)
    finally:
        engine.dispose()
    assert sorted(r.unchanged for r in results) == [False, True]


def test_bad_options_are_named(db: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"k": 0}, "--k"),
        ({"k": 1001}, "--k"),
        ({"shrinkage": -1.0}, "--shrinkage"),
        ({"shrinkage": math.nan}, "--shrinkage"),
        ({"min_users": 0}, "--min-users"),
    ]
    for options, name in cases:
        with pytest.raises(ValueError, match=name):
            refresh_cooccurrence(url=db, **options)
    for argv, name in (
        (["--k", "0"], "--k"),
        (["--shrinkage", "-2"], "--shrinkage"),
        (["--min-users", "0"], "--min-users"),
    ):
        code, out, err = pgrec(db, "cooccurrence", "refresh", *argv)
        assert code == 2 and out == "" and name in err
    assert query(db, "SELECT count(*) FROM job_runs") == [(0,)]


def test_cli_refresh_then_unchanged(db: str) -> None:
    code, out, err = pgrec(db, "cooccurrence", "refresh", "--k", "20", "--min-users", "2")
    assert code == 0, err
    assert out.startswith("cooccurrence: 40 users, ") and " changed " in out
    code, out, _ = pgrec(db, "cooccurrence", "refresh", "--k", "20", "--min-users", "2")
    assert (code, out.startswith("cooccurrence: unchanged")) == (0, True)
    assert_matches(db, direct(db, k=20, min_users=2))


def test_an_item_deleted_during_the_write_makes_the_run_start_over(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = query(db, "SELECT item_id FROM interactions GROUP BY 1 ORDER BY count(*) DESC")[0][0]
    real_read = store.read_lists
    calls: list[int] = []

    def read_then_delete(*, conn: Connection) -> Any:
        calls.append(1)
        if len(calls) == 1:  # after this run's snapshot, before its writes
            with psycopg.connect(db) as other:
                other.execute("DELETE FROM items WHERE id = %s", (victim,))
        return real_read(conn=conn)

    monkeypatch.setattr(store, "read_lists", read_then_delete)
    run = refresh_cooccurrence(url=db)
    assert len(calls) == 2 and run.stats is not None
    assert_matches(db, direct(db))
    assert query(db, "SELECT status FROM job_runs") == [("ok",)]


def test_a_heartbeat_during_the_run_does_not_make_it_start_over(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_read = store.read_lists
    calls: list[int] = []

    def read_then_beat(*, conn: Connection) -> Any:
        calls.append(1)
        with psycopg.connect(db) as other:  # what jobs/heartbeat.py does every 15 s
            other.execute("UPDATE job_runs SET heartbeat_at = now() WHERE status = 'running'")
        return real_read(conn=conn)

    monkeypatch.setattr(store, "read_lists", read_then_beat)
    run = refresh_cooccurrence(url=db)
    assert len(calls) == 1 and run.stats is not None
    assert query(db, "SELECT status FROM job_runs") == [("ok",)]
