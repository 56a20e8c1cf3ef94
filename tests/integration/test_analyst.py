"""The analyst role: every rec.* function gives the API's ids, the docs run, writes are refused."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import ProgrammingError

from db import recs
from db.embeddings import active_model
from db.recs import Filters, Hit
from db.recs.calls import vector_literal
from jobs.embedder import FakeEmbedder
from tests.support.databases import ROOT, rolled_back

DOC = ROOT / "docs" / "analysts.md"
F = Filters(categories=("Drama", "Thriller"), year_min=1980)


@pytest.fixture
def ac(catalog_url: str) -> Iterator[Connection]:
    with rolled_back(catalog_url) as connection:
        yield connection


def _as_analyst(conn: Connection, sql: str, params: dict[str, Any]) -> list[int]:
    conn.execute(text("SET LOCAL ROLE pgrec_analyst"))
    try:
        return [int(r[0]) for r in conn.execute(text(sql), params)]
    finally:
        conn.execute(text("RESET ROLE"))


def _ids(hits: list[Hit]) -> list[int]:
    return [h.item_id for h in hits]


def _title(conn: Connection, title: str) -> int:
    sql = text("SELECT id FROM items WHERE title = :t ORDER BY id LIMIT 1")
    return int(conn.execute(sql, {"t": title}).scalar_one())


def test_every_function_gives_the_wrappers_ids(ac: Connection) -> None:
    model = active_model(ac).name
    q = FakeEmbedder().encode(["a detective hunts a killer in the city"])[0]
    alien, toy = _title(ac, "Alien"), _title(ac, "Toy Story")
    f = recs.calls.filters_json(F)
    cases: list[tuple[Callable[[], list[Hit]], str, dict[str, Any]]] = [
        (
            lambda: recs.semantic(conn=ac, model=model, vector=q, k=10, filters=F),
            "SELECT item_id FROM rec.semantic(CAST(:q AS vector), 10, CAST(:f AS jsonb))",
            {"q": vector_literal(q)},
        ),
        (
            lambda: recs.similar_items(conn=ac, item_id=alien, k=10, filters=Filters()),
            "SELECT item_id FROM rec.similar_items(:a, 10)",
            {},
        ),
        (
            lambda: recs.similar_items(conn=ac, item_id=alien, k=10, filters=F),
            "SELECT item_id FROM rec.similar_items(:a, 10, CAST(:f AS jsonb))",
            {},
        ),
        (
            lambda: (
                recs.more_like(
                    conn=ac, positive=[alien], negative=[toy], weights=None, k=10, filters=F
                ).hits
            ),
            "SELECT item_id FROM rec.more_like(ARRAY[:a], ARRAY[:t], 10, CAST(:f AS jsonb))",
            {},
        ),
        (
            lambda: recs.for_user(conn=ac, user_id="u_scifi", k=10, filters=Filters()),
            "SELECT item_id FROM rec.for_user('u_scifi', 10)",
            {},
        ),
        (
            lambda: recs.search_terms(conn=ac, q="murder detective", k=10, filters=F),
            "SELECT item_id FROM rec.search_terms('murder detective', 10, CAST(:f AS jsonb))",
            {},
        ),
        (
            lambda: recs.search_title(conn=ac, q="the godfather", k=10, filters=Filters()),
            "SELECT item_id FROM rec.search_title('the godfather', 10)",
            {},
        ),
    ]
    for wrapper, sql, params in cases:
        expected = _ids(wrapper())
        assert expected, sql
        assert _as_analyst(ac, sql, {"a": alien, "t": toy, "f": f, **params}) == expected, sql


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO items (external_id, title) VALUES ('x:1', 'x')",
        "UPDATE items SET title = 'x' WHERE id = 1",
        "DELETE FROM items WHERE id = 1",
        "DELETE FROM item_embeddings",
        "INSERT INTO interactions (user_id, item_id, event) VALUES ('u', 1, 'view')",
        "UPDATE item_neighbors SET score = 0",
        "TRUNCATE items",
        "CREATE TABLE public.mine (x int)",
        "CREATE FUNCTION rec.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ],
)
def test_the_analyst_cannot_write(ac: Connection, sql: str) -> None:
    ac.execute(text("SET LOCAL ROLE pgrec_analyst"))
    with pytest.raises(ProgrammingError) as err, ac.begin_nested():
        ac.execute(text(sql))
    assert isinstance(err.value.orig, psycopg.errors.InsufficientPrivilege)


def test_the_analyst_reads_every_table_and_view(ac: Connection) -> None:
    sql = text(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
        "WHERE schemaname = 'public' UNION ALL "
        "SELECT format('%I.%I', schemaname, viewname) FROM pg_views WHERE schemaname = 'rec'"
    )
    tables = ac.execute(sql).scalars().all()
    assert "rec.item_neighbors_v" in tables
    ac.execute(text("SET LOCAL ROLE pgrec_analyst"))
    for table in tables:
        ac.execute(text(f"SELECT * FROM {table} LIMIT 1")).all()


def _doc_blocks() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_docs_have_an_example_of_every_function() -> None:
    blob = "\n".join(_doc_blocks())
    for name in (
        "semantic",
        "similar_items",
        "more_like",
        "for_user",
        "search_terms",
        "search_title",
        "missing_items",
        "filter_sql",
        "vector_plan",
        "resolve_model",
        "item_neighbors_v",
        "item_clusters_v",
        "clusters_v",
    ):
        assert f"rec.{name}(" in blob or f"rec.{name}\n" in blob or f"rec.{name} " in blob, name


@pytest.mark.parametrize("block", _doc_blocks(), ids=lambda b: b.strip().splitlines()[0][:40])
def test_every_doc_example_runs_as_the_analyst(ac: Connection, block: str) -> None:
    ac.execute(text("SET LOCAL ROLE pgrec_analyst"))
    raw = ac.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(block)  # no parameters: several statements may run at once
        found = [cur.fetchall() if cur.description else []]
        while cur.nextset():
            found.append(cur.fetchall() if cur.description else [])
    # Clusters are not computed on the test catalog; everything else finds something.
    if "clusters_v" not in block:
        assert all(found[-1:]), "the example returned nothing on the test catalog"
