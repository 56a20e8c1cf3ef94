"""A real primary + streaming replica pair: reads on the replica, writes on the primary,
read-your-writes through X-Pgrec-LSN, primary fallback when the replica stops, HNSW on the
replica. The replica is a base backup of the session's embedded test server (module scope).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.routing import LSN_HEADER
from db import embedded, embedded_replicas
from db.engine import make_engine
from db.router import Router, format_lsn, parse_lsn
from db.settings import Settings
from jobs.embedder import FakeEmbedder
from jobs.neighbors import refresh_neighbors
from tests.support.api import API_KEY, seed, wait_ready, wait_until
from tests.support.databases import ROOT, with_database

PGDATA = ROOT / ".pgrec" / "test-pgdata"
KEY = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def replica_server(server_url: str) -> Iterator[str]:
    """URL (database postgres) of a fresh streaming replica of the test server."""
    if os.environ.get("PGREC_TEST_DATABASE_URL"):
        pytest.skip("replicas are made of the embedded test server")
    target = embedded_replicas.replica_dir(PGDATA, 1)
    embedded_replicas.stop(PGDATA)
    shutil.rmtree(target, ignore_errors=True)  # a stale replica may lack recycled WAL
    url = embedded_replicas.start(PGDATA, 1)[0]
    yield url
    embedded_replicas.stop(PGDATA)
    shutil.rmtree(target, ignore_errors=True)


def _lsn(url: str, sql: str) -> int:
    # On the server's own database: a new database may not have reached the replica yet.
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None and row[0] is not None
    return parse_lsn(str(row[0]))


def caught_up(primary: str, replica: str) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    target = _lsn(primary, "SELECT pg_current_wal_insert_lsn()::text")
    wait_until(lambda: _lsn(replica, "SELECT pg_last_wal_replay_lsn()::text") >= target)


@pytest.fixture
def pair(fresh_db_url: str, replica_server: str) -> tuple[str, str]:
    """(primary, replica) URLs of one seeded database, the replica caught up."""
    seed(fresh_db_url)
    replica = with_database(replica_server, urlsplit(fresh_db_url).path.lstrip("/"))
    caught_up(fresh_db_url, replica)
    return fresh_db_url, replica


def _client(primary: str, replica: str) -> TestClient[Litestar]:
    settings = Settings(database_url=primary, database_replica_urls=replica, api_key=API_KEY)
    app = create_app(
        settings,
        embedder_factory=lambda model: FakeEmbedder(dim=model.dim, name=model.name),
        refresh_interval=0.2,
    )
    return TestClient(app)


def _reads(client: TestClient[Litestar]) -> dict[tuple[str, str], int]:
    routing = client.get("/status").json()["routing"]
    return {(r["target"], r["reason"]): r["reads"] for r in routing["reads"]}


def _user_ids(client: TestClient[Litestar], user: str, **headers: str) -> list[int]:
    response = client.get(f"/users/{user}/recommendations", params={"n": 5}, headers=headers)
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["results"]]


def test_router_reads_on_the_replica_and_writes_on_the_primary(pair: tuple[str, str]) -> None:
    primary, replica = pair
    engine = make_engine(primary)
    router = Router.from_urls(engine, [replica])
    try:
        with router.read() as conn:
            row = conn.exec_driver_sql(
                "SELECT pg_is_in_recovery(), current_setting('application_name')"
            ).one()
        assert tuple(row) == (True, "pgrec-api-read")
        with router.write() as conn:
            assert conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar() is False
            conn.exec_driver_sql("CREATE TABLE router_probe (x int)")
        # A token past the replica's position is served by the primary.
        ahead = router.primary_lsn() + 10**9
        with router.read(min_lsn=ahead) as conn:
            assert conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar() is False
        assert router.counts[("replica1", "read")] == 1
        assert router.counts[("primary", "read_your_writes")] == 1
    finally:
        router.dispose()
        engine.dispose()


def test_api_reads_on_replica_and_read_your_writes(pair: tuple[str, str]) -> None:
    primary, replica = pair
    with _client(primary, replica) as client:
        wait_ready(client)
        terms = client.get("/recommendations", params={"mode": "terms", "q": "space"})
        assert terms.status_code == 200 and terms.json()["results"]
        assert _reads(client).get(("replica1", "read"), 0) >= 1
        with psycopg.connect(replica) as conn:
            names = {r[0] for r in conn.execute("SELECT application_name FROM pg_stat_activity")}
        assert "pgrec-api-read" in names
        with psycopg.connect(replica, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
        try:
            first = _user_ids(client, "carol")[0]  # an unknown user: popular items
            written = client.post(
                "/interactions",
                json=[{"user_id": "carol", "item_id": first, "event": "like"}],
                headers=KEY,
            )
            assert written.status_code == 200 and written.json()["inserted"] == 1
            token = written.headers[LSN_HEADER]
            before = _reads(client).get(("primary", "read_your_writes"), 0)
            assert first not in _user_ids(client, "carol", **{LSN_HEADER: token})
            assert _reads(client)[("primary", "read_your_writes")] == before + 1
            # Without the token the paused replica answers, and has not seen the like.
            assert first in _user_ids(client, "carol")
        finally:
            with psycopg.connect(replica, autocommit=True) as conn:
                conn.execute("SELECT pg_wal_replay_resume()")
        caught_up(primary, replica)
        replica_reads = _reads(client)[("replica1", "read")]
        assert first not in _user_ids(client, "carol", **{LSN_HEADER: token})
        assert _reads(client)[("replica1", "read")] == replica_reads + 1
        metrics = client.get("/metrics").text
        assert 'pgrec_db_reads_total{reason="read",target="replica1"}' in metrics
        assert 'pgrec_replica_lag_bytes{replica="replica1"}' in metrics
        status = client.get("/status").json()["routing"]["replicas"][0]
        assert status["usable"] is True and status["lag_bytes"] is not None
        bad = client.get("/items/1", headers={LSN_HEADER: "yesterday"})
        assert bad.status_code == 400 and LSN_HEADER in bad.json()["detail"]


def test_hnsw_answers_on_the_replica(pair: tuple[str, str]) -> None:
    primary, replica = pair
    sql = (
        "SELECT item_id FROM item_embeddings WHERE model = 'all-MiniLM-L6-v2' ORDER BY "
        "embedding::vector(384) <=> (SELECT embedding::vector(384) FROM item_embeddings "
        "ORDER BY item_id LIMIT 1) LIMIT 5"
    )
    answers: list[Any] = []
    for url in (primary, replica):
        with psycopg.connect(url) as conn:
            # A few dozen rows: make the planner take the index it would take at scale.
            for knob in ("seqscan", "bitmapscan", "sort"):
                conn.execute(f"SET enable_{knob} = off")
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql))
            assert "ix_item_embeddings_hnsw" in plan, plan
            answers.append([r[0] for r in conn.execute(sql)])
    assert answers[0] == answers[1] and len(answers[0]) == 5


def _first_item(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT min(id) FROM items").fetchone()
    assert row is not None
    return int(row[0])


def _neighbour(client: TestClient[Litestar], of: int) -> int:
    body = client.get(f"/items/{of}/similar", params={"n": "5"}).json()
    return int(body["results"][0]["id"])


def _rename(primary: str, item: int, title: str) -> None:
    with psycopg.connect(primary) as conn:  # in SQL: the trigger's NOTIFY reaches the API
        conn.execute("UPDATE items SET title = %s WHERE id = %s", (title, item))


def _shows(client: TestClient[Litestar], of: int, title: str) -> bool:
    body = client.get(f"/items/{of}/similar", params={"n": "5"}).json()
    return any(r["title"] == title for r in body["results"])


def test_read_model_builds_on_a_replica_once_it_has_the_change(pair: tuple[str, str]) -> None:
    primary, replica = pair
    # With neighbour lists the build reads them on a second replica backend that imports
    # the first one's snapshot (a standby exports snapshots too).
    refresh_neighbors(url=primary)
    caught_up(primary, replica)
    with _client(primary, replica) as client:
        wait_ready(client)
        # The first build read the replica (the fixture let it catch up first).
        assert _reads(client).get(("replica1", "build"), 0) >= 1
        assert client.get("/status").json()["snapshot"]["neighbor_lists_k"] > 0
        wait_until(lambda: client.get("/status").json()["snapshot"]["listening"])
        anchor = _first_item(primary)
        item = _neighbour(client, anchor)
        builds = _reads(client)[("replica1", "build")]
        _rename(primary, item, "Seen Through The Replica")
        wait_until(lambda: _shows(client, anchor, "Seen Through The Replica"))
        assert _reads(client)[("replica1", "build")] > builds
        # A replica that has not replayed the change is not read: the primary answers.
        with psycopg.connect(replica, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
        try:
            _rename(primary, item, "Read From The Primary")
            wait_until(lambda: _shows(client, anchor, "Read From The Primary"))
            assert _reads(client).get(("primary", "build_lag"), 0) >= 1
        finally:
            with psycopg.connect(replica, autocommit=True) as conn:
                conn.execute("SELECT pg_wal_replay_resume()")


def test_stopped_replica_falls_back_to_the_primary(pair: tuple[str, str]) -> None:
    primary, replica = pair
    target = embedded_replicas.replica_dir(PGDATA, 1)
    with _client(primary, replica) as client:
        wait_ready(client)
        assert _user_ids(client, "alice")
        anchor = _first_item(primary) + 1
        item = _neighbour(client, anchor)
        assert embedded.stop(target)
        try:
            # Changes still reach the read model: re-read from the primary.
            _rename(primary, item, "Replica Down")
            wait_until(lambda: _shows(client, anchor, "Replica Down"))
            assert _reads(client).get(("primary", "build_unhealthy"), 0) >= 1
            for mode in ("terms", "title", "hybrid"):
                r = client.get("/recommendations", params={"mode": mode, "q": "space"})
                assert r.status_code == 200, r.text
            # Filtered semantic too, whether its asyncio set met the stopped replica or not.
            movies = {"mode": "semantic", "q": "space", "kind": "Movie"}
            for _ in range(3):
                r = client.get("/recommendations", params=movies)
                assert r.status_code == 200 and r.json()["results"], r.text
            assert _user_ids(client, "alice")
            routing = client.get("/status").json()["routing"]
            assert routing["replicas"][0]["usable"] is False
            assert _reads(client).get(("primary", "unhealthy"), 0) >= 4
        finally:
            embedded_replicas.start(PGDATA, 1)
        # Retried after its back-off: once up again, reads return to it.
        wait_until(lambda: _reads_after_retry(client) > 0, timeout=30)


def _reads_after_retry(client: TestClient[Litestar]) -> int:
    before = _reads(client).get(("replica1", "read"), 0)
    client.get("/recommendations", params={"mode": "terms", "q": "space"})
    return _reads(client).get(("replica1", "read"), 0) - before


def test_filtered_semantic_reads_a_fit_replica_on_asyncio_connections(
    pair: tuple[str, str],
) -> None:
    primary, replica = pair
    with _client(primary, replica) as client:
        wait_ready(client)
        runtime = client.app.state["runtime"]
        wait_until(lambda: "replica1" in runtime.fast.sets)
        assert runtime.fast.current is None  # reads go to the replicas: no primary set
        reads = runtime.fast.sets["replica1"]
        movies = {"mode": "semantic", "q": "space adventure", "kind": "Movie"}

        def asyncio_read_on_the_replica() -> bool:
            # A threaded read checks the replica's health; asyncio reads trust a check for
            # a second (on a slow machine the second may pass: then try again).
            client.get("/recommendations", params={"mode": "terms", "q": "space"})
            queries, counted = reads.queries, _reads(client).get(("replica1", "read"), 0)
            answer = client.get("/recommendations", params=movies)
            assert answer.status_code == 200 and answer.json()["results"], answer.text
            return reads.queries == queries + 1 and _reads(client)[("replica1", "read")] == (
                counted + 1
            )

        wait_until(asyncio_read_on_the_replica)
        # A read-your-writes token past the replica's position: not on the replica.
        ahead = format_lsn(runtime.router.primary_lsn() + 10**9)
        queries = reads.queries
        before = _reads(client).get(("primary", "read_your_writes"), 0)
        answer = client.get("/recommendations", params=movies, headers={LSN_HEADER: ahead})
        assert answer.status_code == 200 and answer.json()["results"]
        assert reads.queries == queries
        assert _reads(client)[("primary", "read_your_writes")] == before + 1
