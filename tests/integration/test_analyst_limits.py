"""Bounded analyst SQL (issue 15, defect 6): limits the analyst cannot lift, capped inputs.

An analyst logs in as its own role, a member of pgrec_analyst granted WITH SET FALSE. It
cannot change pgrec_analyst's settings or connection limit; a statement it frees from its
own timeout is still cancelled by the watchdog, and an idle transaction is ended.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import create_engine

from db.analyst_limits import enforce_analyst_limits
from db.engine import sqlalchemy_url
from tests.support.api import wait_until
from tests.support.cli import query_one

LOGIN = "pgrec_test_analyst"
PASSWORD = "analyst-test-password"


@pytest.fixture
def analyst(fresh_db_url: str) -> Iterator[dict[str, Any]]:
    with psycopg.connect(fresh_db_url, autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {LOGIN}")
        admin.execute(f"CREATE ROLE {LOGIN} LOGIN PASSWORD '{PASSWORD}'")
        admin.execute(f"GRANT pgrec_analyst TO {LOGIN} WITH INHERIT TRUE, SET FALSE")
    try:
        yield {"conninfo": fresh_db_url, "user": LOGIN, "password": PASSWORD}
    finally:
        with psycopg.connect(fresh_db_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (LOGIN,),
            )
            admin.execute(f"DROP ROLE IF EXISTS {LOGIN}")


def test_the_migration_sets_the_limits(template_url: str) -> None:
    # The migrated database itself: role settings per database do not follow a clone.
    settings = query_one(
        template_url,
        "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d"
        " ON d.oid = s.setdatabase WHERE d.datname = current_database()"
        " AND s.setrole = 'pgrec_analyst'::regrole",
    )
    limit = query_one(
        template_url, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'pgrec_analyst'"
    )
    assert settings is not None and "statement_timeout=30s" in settings[0]
    assert "idle_in_transaction_session_timeout=60s" in settings[0]
    assert limit is not None and limit[0] == 8


def test_the_analyst_cannot_lift_its_limits(analyst: dict[str, Any]) -> None:
    with psycopg.connect(**analyst, autocommit=True) as conn:
        for sql in (
            "ALTER ROLE pgrec_analyst SET statement_timeout = 0",
            "ALTER ROLE pgrec_analyst CONNECTION LIMIT -1",
            "SET ROLE pgrec_analyst",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(sql)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM pgrec_enforce_analyst_limits()")


def test_a_statement_past_the_limit_is_cancelled(
    analyst: dict[str, Any], fresh_db_url: str
) -> None:
    caught: list[BaseException] = []

    def sleep_long() -> None:
        with psycopg.connect(**analyst, autocommit=True) as conn:
            conn.execute("SET statement_timeout = 0")  # the analyst lifts its own timeout
            try:
                conn.execute("SELECT pg_sleep(60)")
            except psycopg.Error as err:
                caught.append(err)

    thread = threading.Thread(target=sleep_long)
    thread.start()
    engine = create_engine(sqlalchemy_url(fresh_db_url))
    done: list[dict[str, Any]] = []
    try:

        def enforce() -> bool:
            with engine.begin() as conn:
                done.extend(enforce_analyst_limits(conn=conn, statement_seconds=0.2))
            return bool(done)

        wait_until(enforce, timeout=30, every=0.2)
    finally:
        thread.join(timeout=30)
        engine.dispose()
    assert [d["action"] for d in done] == ["cancelled"] and done[0]["login"] == LOGIN
    assert len(caught) == 1 and isinstance(caught[0], errors.QueryCanceled)


def test_an_idle_transaction_is_ended(analyst: dict[str, Any], fresh_db_url: str) -> None:
    engine = create_engine(sqlalchemy_url(fresh_db_url))
    try:
        with psycopg.connect(**analyst) as conn:
            conn.execute("SET idle_in_transaction_session_timeout = 0")
            conn.execute("SELECT count(*) FROM items")  # opens a transaction, then idles
            done: list[dict[str, Any]] = []

            def enforce() -> bool:
                with engine.begin() as owner:
                    done.extend(enforce_analyst_limits(conn=owner, idle_seconds=0.2))
                return bool(done)

            wait_until(enforce, timeout=30, every=0.2)
            assert done[0]["action"] == "terminated"
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("sql", "argument"),
    [
        ("SELECT * FROM rec.more_like(ARRAY(SELECT generate_series(1, 20001))::bigint[])", "ids"),
        ("SELECT rec.missing_items(ARRAY(SELECT generate_series(1, 20001))::bigint[])", "ids"),
        ("SELECT rec.more_like_vector(ARRAY(SELECT generate_series(1, 20001))::bigint[])", "ids"),
        (
            "SELECT * FROM rec.semantic(NULL, 10, jsonb_build_object('exclude_ids',"
            " (SELECT jsonb_agg(g) FROM generate_series(1, 20001) g)))",
            "exclude_ids",
        ),
        (
            "SELECT * FROM rec.search_title(repeat('a', 2000), 10)",
            "q",
        ),
        (
            "SELECT * FROM rec.popular(10, jsonb_build_object('categories',"
            " (SELECT jsonb_agg(g::text) FROM generate_series(1, 1001) g)))",
            "categories",
        ),
    ],
)
def test_oversized_inputs_are_refused(analyst: dict[str, Any], sql: str, argument: str) -> None:
    with psycopg.connect(**analyst) as conn, pytest.raises(errors.InvalidParameterValue) as err:
        conn.execute(sql)
    assert f"invalid {argument}:" in str(err.value) and "at most" in str(err.value)
