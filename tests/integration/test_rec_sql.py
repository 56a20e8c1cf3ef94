"""db/sql holds the current definition of every rec.* object: the migrated schema matches it."""

from __future__ import annotations

import difflib
import re

import psycopg
import pytest

from db import frozen_sql

# Every object in schema rec as (kind name, definition): functions with their comment, views
# by their normalised query, anything else by its kind alone (so it exists on both sides).
DEFINITIONS = """
SELECT 'function ' || p.oid::regprocedure::text,
       CASE WHEN p.prokind = 'a' THEN '' ELSE pg_get_functiondef(p.oid) END
       || coalesce(E'\\n-- comment: ' || obj_description(p.oid, 'pg_proc'), '')
FROM pg_proc p WHERE p.pronamespace = 'rec'::regnamespace
UNION ALL
SELECT 'relation ' || c.oid::regclass::text || ' (relkind ' || c.relkind::text || ')',
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) ELSE '' END
       || coalesce(E'\\n-- comment: ' || obj_description(c.oid, 'pg_class'), '')
FROM pg_class c WHERE c.relnamespace = 'rec'::regnamespace
UNION ALL
SELECT 'type ' || t.oid::regtype::text, ''
FROM pg_type t WHERE t.typnamespace = 'rec'::regnamespace AND t.typrelid = 0
  AND t.typelem = 0
"""
CREATES = re.compile(r"^CREATE OR REPLACE (?:FUNCTION|VIEW) (rec\.\w+)", re.M)


def _definitions(url: str) -> dict[str, str]:
    with psycopg.connect(url) as c:
        return dict(c.execute(DEFINITIONS).fetchall())


def _from_files(url: str) -> None:
    """Replace schema rec of `url` by what db/sql defines."""
    with psycopg.connect(url) as c:
        c.execute("DROP SCHEMA rec CASCADE")
        c.execute("CREATE SCHEMA rec")
        # SQL-language bodies name other rec functions; files run in name order, not in
        # dependency order, so bodies are checked when called, as plpgsql ones always are.
        c.execute("SET check_function_bodies = off")
        for sql in frozen_sql.current().values():
            c.execute(sql.encode())


def test_migrated_schema_matches_db_sql(template_url: str, fresh_db_url: str) -> None:
    """A function changed in a migration but not in db/sql, or the other way round, fails."""
    migrated = _definitions(template_url)
    _from_files(fresh_db_url)
    files = _definitions(fresh_db_url)
    assert migrated, "schema rec is empty after migrating"
    only_migrated = sorted(migrated.keys() - files.keys())
    only_files = sorted(files.keys() - migrated.keys())
    assert not only_migrated, f"in the migrated schema, missing from db/sql: {only_migrated}"
    assert not only_files, f"in db/sql, missing from the migrated schema: {only_files}"
    for name in sorted(migrated):
        diff = "\n".join(
            difflib.unified_diff(
                migrated[name].splitlines(),
                files[name].splitlines(),
                "migrated",
                "db/sql",
                lineterm="",
            )
        )
        assert not diff, f"{name} differs between the migrations and db/sql:\n{diff}"


def test_db_sql_files_link_to_frozen_migration_sql() -> None:
    """Each file is one object, named for it, and a link to the frozen file that made it.

    The link keeps one copy of each definition: the migration's file is the text, db/sql
    says which migration's text is current.
    """
    paths = sorted(frozen_sql.CURRENT.rglob("*.sql"))
    assert paths
    for path in paths:
        assert path.is_symlink(), f"{path} is a copy: link it to migrations/versions/sql/<rev>/"
        target = path.resolve()
        assert target.parent.parent == frozen_sql.FROZEN.resolve(), f"{path} -> {target}"
        names = CREATES.findall(target.read_text())
        assert names == [path.name.removesuffix(".sql")], f"{path} defines {names}"
    assert len({p.name for p in paths}) == len(paths), "an object is in two groups"


def test_the_fallback_ranker_serves_the_defaults_coefficients_in_order(db_url: str) -> None:
    """rec.ranker's fallback reads rec._defaults()'s fallback_coef (0016), feature by feature
    in rec.ranker_features() order; a session's pgrec.ranker = 'fallback' picks it too."""
    with psycopg.connect(db_url) as conn:
        conn.execute("SET pgrec.ranker = 'fallback'")
        row = conn.execute(
            "SELECT r.version, r.coef, rec.ranker_features(),"
            " ARRAY(SELECT jsonb_array_elements_text(rec._defaults() -> 'fallback_coef'))"
            " FROM rec.ranker() r"
        ).fetchone()
    assert row is not None
    version, coef, features, wanted = row
    assert version == "fallback"
    assert len(coef) == len(features) == len(wanted)
    assert coef == pytest.approx([float(w) for w in wanted])
    weights = dict(zip(features, coef, strict=True))
    assert weights[features[0]] == pytest.approx(1.0) and max(coef) == pytest.approx(1.0)
