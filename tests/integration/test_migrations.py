"""Migrations go up from empty, down to base and up again; the models match the schema.

The chain starts at the baseline 0016 (0001-0014 squashed into it); a database at one of
the squashed revisions is refused with a message that says what to do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text

from db import migrate
from db.engine import sqlalchemy_url
from tests.support.cli import pgrec

EXPECTED_TABLES = {"items", "embedding_models", "item_embeddings", "interactions"}


def _tables(url: str) -> set[str]:
    eng = create_engine(sqlalchemy_url(url))
    try:
        return set(inspect(eng).get_table_names()) - {"alembic_version"}
    finally:
        eng.dispose()


@pytest.fixture
def empty_url(server_url: str) -> Iterator[str]:
    from tests.support.databases import admin, with_database

    name = f"pgrec_mig_empty_{os.getpid()}"
    admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(server_url, f"CREATE DATABASE {name}")
    yield with_database(server_url, name)
    admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_up_down_up_and_no_drift(empty_url: str) -> None:
    assert _tables(empty_url) == set()
    migrate.upgrade(empty_url)
    assert _tables(empty_url) >= EXPECTED_TABLES
    migrate.check(empty_url)
    migrate.downgrade(empty_url, "base")
    assert _tables(empty_url) == set()
    migrate.upgrade(empty_url)
    assert _tables(empty_url) >= EXPECTED_TABLES
    migrate.check(empty_url)


def test_every_revision_steps_down_and_up(fresh_db_url: str) -> None:
    """Each migration's downgrade undoes exactly its upgrade, one step at a time."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(fresh_db_url))
    revisions = [r.revision for r in script.walk_revisions()]  # head first
    for _ in revisions:
        migrate.downgrade(fresh_db_url, "-1")
    assert _tables(fresh_db_url) == set()
    for _ in revisions:
        migrate.upgrade(fresh_db_url, "+1")
    migrate.check(fresh_db_url)


def test_the_chain_starts_at_the_baseline(fresh_db_url: str) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(fresh_db_url))
    base = script.get_base()
    assert base == migrate.BASELINE
    assert script.get_revision(base).down_revision is None
    assert not set(migrate.SQUASHED) & {r.revision for r in script.walk_revisions()}


@pytest.mark.parametrize("old", ["0011", "0001"])
def test_a_database_at_a_squashed_revision_is_told_to_take_the_upgrade_stop(
    fresh_db_url: str, old: str
) -> None:
    """Not Alembic's "can't locate revision": the revision, and the previous release first."""
    with psycopg.connect(fresh_db_url) as c:
        c.execute("UPDATE alembic_version SET version_num = %s", (old,))
    with pytest.raises(migrate.SquashedRevisionError) as raised:
        migrate.upgrade(fresh_db_url)
    message = str(raised.value)
    assert f"at migration {old}" in message and "previous release" in message
    code, _, err = pgrec(fresh_db_url, "migrate")
    assert code == 2
    assert f"at migration {old}" in err and "previous release of pgrec" in err
    with psycopg.connect(fresh_db_url) as c:  # nothing ran
        version = c.execute("SELECT version_num FROM alembic_version").fetchall()
    assert version == [(old,)]


def test_extensions_created(conn) -> None:  # type: ignore[no-untyped-def]
    names = set(conn.execute(text("SELECT extname FROM pg_extension")).scalars())
    assert {"vector", "pg_trgm", "unaccent"} <= names


def test_exactly_one_active_model_is_enforced(fresh_db_url: str) -> None:
    with psycopg.connect(fresh_db_url) as c:
        c.execute("INSERT INTO embedding_models (name, dim) VALUES ('other', 8)")
        c.commit()
        # Two active at once: the partial unique index refuses immediately.
        with pytest.raises(psycopg.errors.UniqueViolation):
            c.execute("UPDATE embedding_models SET active = true WHERE name = 'other'")
        c.rollback()
        # None active at commit: the deferred constraint trigger refuses.
        c.execute("UPDATE embedding_models SET active = false")
        with pytest.raises(psycopg.errors.CheckViolation, match="exactly one"):
            c.commit()
        # Switching in one transaction works.
        c.execute("UPDATE embedding_models SET active = false")
        c.execute("UPDATE embedding_models SET active = true WHERE name = 'other'")
        c.commit()
        active = c.execute("SELECT name FROM embedding_models WHERE active").fetchall()
        assert active == [("other",)]


def test_content_hash_follows_embedded_text(conn) -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        text("INSERT INTO items (external_id, title, description) VALUES ('t:1', 'A', 'one')")
    )
    before = conn.execute(text("SELECT content_hash, updated_at FROM items")).one()
    conn.execute(text("UPDATE items SET popularity = 3"))
    same = conn.execute(text("SELECT content_hash FROM items")).scalar_one()
    assert same == before.content_hash  # popularity is not embedded
    conn.execute(text("UPDATE items SET description = 'two'"))
    changed = conn.execute(text("SELECT content_hash FROM items")).scalar_one()
    assert changed != before.content_hash
    expected = conn.execute(text("SELECT md5('A' || E'\\n' || 'two')")).scalar_one()
    assert changed == expected


def test_title_trigram_index_normalizes_accents(conn) -> None:  # type: ignore[no-untyped-def]
    assert conn.execute(text("SELECT pgrec_norm_title('Amélie À Paris')")).scalar_one() == (
        "amelie a paris"
    )


def test_kind_filters_are_estimated_right_after_0021(fresh_db_url: str) -> None:
    """0021 filters kinds by lower(kind): its upgrade analyses items, so the planner's
    estimate comes from the new index's statistics, not the 0.5% default."""
    with psycopg.connect(fresh_db_url, autocommit=True) as c:
        migrate.downgrade(fresh_db_url, "0020")
        c.execute(
            "INSERT INTO items (external_id, title, kind)"
            " SELECT 'k:' || g, 'Item ' || g, CASE WHEN g % 5 = 0 THEN 'tv' ELSE 'Movie' END"
            " FROM generate_series(1, 2000) g"
        )
        c.execute("ANALYZE items")
        migrate.upgrade(fresh_db_url)
        where = c.execute('SELECT rec.filter_sql(\'{"kinds": ["movie"]}\')').fetchone()
        assert where is not None and "lower(i.kind)" in where[0]
        plan = c.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM items i WHERE {where[0]}")
        rows = plan.fetchone()[0][0]["Plan"]["Plan Rows"]  # type: ignore[index]
        assert 1400 <= rows <= 1800  # 1,600 match
