"""Filtered semantic, terms and title queries on the worker's asyncio connections
(db/async_reads.py, api/fast_reads.py): the same answer as the threaded call, the same
errors, at most `slots` queries in Postgres at once, dead connections replaced, and the
API's choice of path."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.exc import DBAPIError, OperationalError

import db.recs as recs
from api.app import create_app
from api.runtime import Runtime
from db.async_reads import AsyncReads
from db.embeddings import active_model
from db.engine import make_engine
from jobs.embedder import FakeEmbedder
from tests.support.api import Catalog, settings_for, wait_until


def _reads(url: str, **kwargs: Any) -> AsyncReads:
    return AsyncReads(url, connect_timeout=2, **{"slots": 2, "wait_timeout": 2.0, **kwargs})


def _query(dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_same_hits_as_the_threaded_call_and_the_same_errors(
    api_catalog_url: str, catalog: Catalog
) -> None:
    engine = make_engine(api_catalog_url)
    with engine.connect() as conn:
        model = active_model(conn)
        queries = [_query(model.dim, seed) for seed in range(3)]
        filters = [recs.Filters(kinds=("Movie",)), recs.Filters(year_min=2000), recs.Filters()]
        expected = [
            recs.semantic(conn=conn, model=model.name, vector=q, k=5, filters=f)
            for q, f in zip(queries, filters, strict=True)
        ]
    engine.dispose()

    async def run() -> tuple[list[list[recs.Hit]], int, BaseException, BaseException]:
        reads = _reads(api_catalog_url)
        await reads.open(timeout=10)
        try:
            got = []
            for q, f in zip(queries, filters, strict=True):
                async with reads.connection() as conn:
                    hits = await recs.semantic_async(
                        conn=conn, model=model.name, vector=q, k=5, filters=f
                    )
                got.append(hits)
            with pytest.raises(recs.InvalidInput) as bad_q:
                async with reads.connection() as conn:
                    short = np.ones(3, dtype=np.float32)
                    await recs.semantic_async(
                        conn=conn, model=model.name, vector=short, k=5, filters=recs.Filters()
                    )
            with pytest.raises(DBAPIError) as failed:  # not ours to translate: wrapped as usual
                async with reads.connection() as conn:
                    await conn.execute("SELECT 1 / 0")
            return got, reads.queries, bad_q.value, failed.value
        finally:
            await reads.close()

    got, queries_run, bad_q, failed = asyncio.run(run())
    assert got == expected and any(got)
    assert all(catalog.rows[h.item_id]["kind"] == "Movie" for h in got[0])
    assert queries_run == 5
    assert isinstance(bad_q, recs.InvalidInput) and bad_q.key == "q"
    assert isinstance(failed.orig, psycopg.errors.DivisionByZero)


def test_terms_and_title_same_hits_as_the_threaded_calls_and_the_same_errors(
    api_catalog_url: str,
) -> None:
    calls = [
        ("terms", "space adventure", recs.Filters()),
        ("terms", "kitchen", recs.Filters(kinds=("Movie",))),
        ("title", "star voyaje", recs.Filters()),
        ("title", "baking our", recs.Filters(year_min=2000)),
    ]
    engine = make_engine(api_catalog_url)
    with engine.connect() as conn:
        sync = {"terms": recs.search_terms, "title": recs.search_title}
        expected = [sync[mode](conn=conn, q=q, k=5, filters=f) for mode, q, f in calls]
    engine.dispose()

    async def run() -> tuple[list[list[recs.Hit]], BaseException]:
        reads = _reads(api_catalog_url)
        await reads.open(timeout=10)
        try:
            got = []
            for mode, q, f in calls:
                async with reads.connection() as conn:
                    got.append(
                        await recs.search_text_async(conn=conn, mode=mode, q=q, k=5, filters=f)
                    )
            with pytest.raises(recs.InvalidInput) as too_long:
                async with reads.connection() as conn:
                    await recs.search_text_async(
                        conn=conn, mode="title", q="x" * 1001, k=5, filters=recs.Filters()
                    )
            return got, too_long.value
        finally:
            await reads.close()

    got, too_long = asyncio.run(run())
    assert got == expected and all(got)
    assert isinstance(too_long, recs.InvalidInput) and too_long.key == "q"


def test_at_most_slots_queries_at_once_the_rest_wait_then_503(api_catalog_url: str) -> None:
    waits: list[float] = []

    async def run() -> tuple[int, int, BaseException]:
        reads = _reads(api_catalog_url, slots=1, wait_timeout=0.3, on_wait=waits.append)
        await reads.open(timeout=10)
        try:
            async with reads.connection() as held:
                first = (await (await held.execute("SELECT pg_backend_pid()")).fetchone())[0]
                with pytest.raises(OperationalError) as waited:  # the API answers it 503
                    async with reads.connection():
                        pass
            # Freed: the next caller gets the same (only) connection.
            async with reads.connection() as again:
                second = (await (await again.execute("SELECT pg_backend_pid()")).fetchone())[0]
            return first, second, waited.value
        finally:
            await reads.close()

    first, second, waited = asyncio.run(run())
    assert first == second
    assert "couldn't get a connection" in str(waited.orig)
    # Every turn is reported, the one that timed out with at least its whole wait.
    assert len(waits) == 3 and waits[1] >= 0.3 > max(waits[0], waits[2])


def test_a_connection_that_died_while_idle_is_replaced(api_catalog_url: str) -> None:
    """idle_ping=0: every checkout tests its connection first (as one idle > 1 s is)."""

    async def run() -> tuple[int, int]:
        reads = _reads(api_catalog_url, slots=1, idle_ping=0.0)
        await reads.open(timeout=10)
        try:
            async with reads.connection() as conn:
                pid = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
            with psycopg.connect(api_catalog_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                wait_until(
                    lambda: (
                        not admin.execute(
                            "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]
                        ).fetchone()
                    )
                )
            async with reads.connection() as conn:
                now = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
            return pid, now
        finally:
            await reads.close()

    before, after = asyncio.run(run())
    assert before != after


def test_the_api_sends_filtered_semantic_queries_the_asyncio_way(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    runtime: Runtime = client.app.state["runtime"]
    wait_until(lambda: runtime.fast.current is not None)
    reads = runtime.fast.current
    assert reads is not None and reads.slots == runtime.settings.query_slots >= 2
    params = {"mode": "semantic", "q": "space adventure", "kind": "Movie", "n": "5"}

    before = reads.queries
    fast = client.get("/recommendations", params=params)
    assert fast.status_code == 200, fast.text
    assert reads.queries == before + 1
    # Description is not in the read model: the threaded path answers, with the same list.
    threaded = client.get("/recommendations", params={**params, "fields": "description"})
    assert threaded.status_code == 200 and reads.queries == before + 1
    ids = [r["id"] for r in fast.json()["results"]]
    assert ids and ids == [r["id"] for r in threaded.json()["results"]]
    assert all(catalog.rows[i]["kind"] == "Movie" for i in ids)
    assert all("description" in r for r in threaded.json()["results"])
    # Unfiltered: the read model answers; Postgres is not asked.
    unfiltered = client.get("/recommendations", params={"mode": "semantic", "q": "space"})
    assert unfiltered.json()["backend"] == "faiss" and reads.queries == before + 1
    # Operators see the turns waited for a slot.
    metrics = client.get("/metrics").text
    count = "pgrec_query_slot_wait_seconds_count "
    line = next(x for x in metrics.splitlines() if x.startswith(count))
    assert float(line.removeprefix(count)) >= 1


def test_the_api_sends_terms_and_title_the_asyncio_way(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    runtime: Runtime = client.app.state["runtime"]
    wait_until(lambda: runtime.fast.current is not None)
    reads = runtime.fast.current
    assert reads is not None
    for params in (
        {"mode": "terms", "q": "space adventure"},
        {"mode": "title", "q": "star voyaje", "kind": "Movie"},
        {"mode": "title", "q": "kitchen rivls"},  # no filter: still Postgres (pg_trgm)
    ):
        before = reads.queries
        fast = client.get("/recommendations", params={**params, "n": "5"})
        assert fast.status_code == 200, fast.text
        assert fast.json()["mode"] == params["mode"] and fast.json()["backend"] == "postgres"
        assert reads.queries == before + 1, params
        # Description is not in the read model: the threaded path answers, the same list.
        threaded = client.get(
            "/recommendations", params={**params, "n": "5", "fields": "description"}
        )
        assert threaded.status_code == 200 and reads.queries == before + 1
        ids = [r["id"] for r in fast.json()["results"]]
        assert ids and ids == [r["id"] for r in threaded.json()["results"]], params
        titles = [r["title"] for r in fast.json()["results"]]
        assert titles == [catalog.rows[i]["title"] for i in ids]
    # Bad input gets the threaded path's 400, naming the field.
    bad = client.get("/recommendations", params={"mode": "terms", "q": "space", "year_min": "x"})
    assert bad.status_code == 400 and "year_min" in bad.text


@pytest.mark.parametrize(
    ("params", "queries", "backend"),
    [
        ({"q": "space adventure"}, 2, "faiss+postgres"),  # terms and title; FAISS
        ({"q": "space adventure", "kind": "Movie"}, 3, "postgres"),  # and rec.semantic
        ({"q": "the"}, 2, "faiss+postgres"),  # stop words only: terms refused, left out
        ({"q": "kitchen rivls", "diversity": "0.5"}, 2, "faiss+postgres"),
    ],
)
def test_hybrid_reads_its_lists_at_once_with_the_threaded_answer(
    client: TestClient[Litestar],
    catalog: Catalog,
    params: dict[str, str],
    queries: int,
    backend: str,
) -> None:
    runtime: Runtime = client.app.state["runtime"]
    wait_until(lambda: runtime.fast.current is not None and runtime.serving is not None)
    reads = runtime.fast.current
    assert reads is not None
    params = {**params, "mode": "hybrid", "n": "5"}
    before = reads.queries
    fast = client.get("/recommendations", params=params)
    assert fast.status_code == 200, fast.text
    assert reads.queries == before + queries
    body = fast.json()
    assert body["mode"] == "hybrid" and body["backend"] == backend
    assert (body.get("snapshot_version") is not None) == (backend == "faiss+postgres")
    # Description is not in the read model: the threaded path answers, the same list.
    threaded = client.get("/recommendations", params={**params, "fields": "description"})
    assert threaded.status_code == 200 and reads.queries == before + queries
    ids = [r["id"] for r in body["results"]]
    assert ids and ids == [r["id"] for r in threaded.json()["results"]]
    assert [r["score"] for r in body["results"]] == [r["score"] for r in threaded.json()["results"]]
    if "kind" in params:
        assert all(catalog.rows[i]["kind"] == "Movie" for i in ids)


def test_no_slots_no_asyncio_connections(api_catalog_url: str, catalog: Catalog) -> None:
    settings = settings_for(api_catalog_url).model_copy(update={"query_slot_count": 0})
    app = create_app(
        settings,
        embedder_factory=lambda model: FakeEmbedder(dim=model.dim, name=model.name),
        refresh_interval=0.2,
    )
    with TestClient(app) as client:
        runtime: Runtime = client.app.state["runtime"]
        wait_until(lambda: runtime.serving is not None and runtime.fresh)
        params = {"mode": "semantic", "q": "space adventure", "kind": "Movie", "n": "5"}
        answer = client.get("/recommendations", params=params)
        assert answer.status_code == 200 and answer.json()["results"]
        assert runtime.fast.current is None and runtime.fast.opened == 0


def test_a_listed_item_the_read_model_lacks_is_read_from_postgres(
    client: TestClient[Litestar], api_catalog_url: str
) -> None:
    """Written without triggers (so without the NOTIFY that would put it in the read model):
    Postgres lists it, and its row comes from Postgres, not from the read model."""
    runtime: Runtime = client.app.state["runtime"]
    wait_until(lambda: runtime.fast.current is not None and runtime.serving is not None)
    reads = runtime.fast.current
    assert reads is not None and runtime.serving is not None and runtime.view is not None
    q = "space adventure"
    vector = runtime.serving.encoder.encode_query(q)
    with psycopg.connect(api_catalog_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # no triggers fire
        new_id = conn.execute(
            "INSERT INTO items (external_id, title, kind, year) "
            "VALUES ('t:unannounced', 'Unannounced', 'Movie', 2031) RETURNING id"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO item_embeddings (item_id, model, embedding, content_hash) "
            "VALUES (%s, %s, %s::vector, 'test')",
            [new_id, runtime.view.model, "[" + ",".join(map(str, vector.tolist())) + "]"],
        )
    try:
        assert runtime.view.record(new_id) is None
        before = reads.queries
        answer = client.get(
            "/recommendations", params={"mode": "semantic", "q": q, "kind": "Movie", "n": "3"}
        )
        assert answer.status_code == 200, answer.text
        first = answer.json()["results"][0]
        assert (first["id"], first["title"]) == (new_id, "Unannounced")
        assert reads.queries == before + 1  # listed by the asyncio call, finished threaded
        # Hybrid's lists too: title lists it; its row and vector come from Postgres.
        hybrid = client.get("/recommendations", params={"mode": "hybrid", "q": "Unannounced"})
        assert hybrid.status_code == 200, hybrid.text
        found = {r["id"]: r["title"] for r in hybrid.json()["results"]}
        assert found.get(new_id) == "Unannounced"
        assert reads.queries == before + 3
    finally:
        with psycopg.connect(api_catalog_url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute("DELETE FROM item_embeddings WHERE item_id = %s", [new_id])
            conn.execute("DELETE FROM items WHERE id = %s", [new_id])
