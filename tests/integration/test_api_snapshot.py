"""The read model's lifecycle through HTTP: lazy load, readiness, changes applied from
NOTIFY as an overlay, forged notifications, a lost listener, swaps under concurrent load,
and deleted items never coming back."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.support.api import (
    API_KEY,
    MODEL,
    Catalog,
    embed_all,
    make_app,
    ready_client,
    running_server,
    seed,
    vector_literal,
    wait_ready,
    wait_until,
)

KEY = {"X-API-Key": API_KEY}


@pytest.fixture
def seeded(fresh_db_url: str) -> tuple[str, Catalog]:
    return fresh_db_url, seed(fresh_db_url)


def _version(client: TestClient[Litestar] | httpx.Client) -> int:
    snapshot = client.get("/status").json()["snapshot"]
    return int(snapshot["version"]) if snapshot else 0


def _bump_vectors(url: str, *, notify: bool, seed: int = 0) -> None:
    """Re-embed every item with a perturbed vector, as a new model version would."""
    rng = np.random.default_rng(seed)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT item_id, embedding::text FROM item_embeddings WHERE model = %s", (MODEL,)
        ).fetchall()
        for item_id, text in rows:
            v = np.array([float(x) for x in text.strip("[]").split(",")], dtype=np.float32)
            v = v + rng.normal(scale=0.01, size=v.shape).astype(np.float32)
            conn.execute(
                "UPDATE item_embeddings SET embedding = %s::vector, embedded_at = clock_timestamp()"
                " WHERE item_id = %s AND model = %s",
                (vector_literal(v / np.linalg.norm(v)), item_id, MODEL),
            )
        if notify:
            conn.execute("NOTIFY pgrec_vectors")


def test_lazy_app_is_not_ready_until_loaded(seeded: tuple[str, Catalog]) -> None:
    url, _ = seeded
    with TestClient(make_app(url, lazy=True, refresh=60)) as client:
        time.sleep(0.3)
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.headers["retry-after"]
        status = client.get("/status").json()
        assert status["ready"] is False and status["snapshot"] is None and status["lazy"]
        assert client.get("/health/live").status_code == 200
        # Text and item modes do not need the model: served from Postgres meanwhile.
        terms = client.get("/recommendations", params={"mode": "terms", "q": "space"})
        assert terms.status_code == 200 and terms.json()["results"]
        accepted = client.post("/load_models", headers=KEY)
        assert accepted.status_code == 202 and accepted.json()["status"] in {"loading", "ready"}
        wait_ready(client)
        assert _version(client) == 1
        again = client.post("/load_models", headers=KEY)
        assert again.status_code == 202 and again.json() == {"status": "ready", "ready": True}


def test_first_semantic_request_triggers_a_lazy_load(seeded: tuple[str, Catalog]) -> None:
    url, _ = seeded
    with TestClient(make_app(url, lazy=True, refresh=60)) as client:
        first = client.get("/recommendations", params={"mode": "semantic", "q": "space"})
        assert first.status_code == 503 and "retry-after" in first.headers
        wait_ready(client)
        later = client.get("/recommendations", params={"mode": "semantic", "q": "space"})
        assert later.status_code == 200 and later.json()["backend"] == "faiss"


def _status(client: TestClient[Litestar] | httpx.Client) -> dict[str, Any]:
    return dict(client.get("/status").json()["snapshot"])


def _ids(client: TestClient[Litestar], path: str, **params: str) -> list[int]:
    body = client.get(path, params=params).json()
    return [r["id"] for r in body["results"]]


def test_changes_reach_the_read_model_as_an_overlay(seeded: tuple[str, Catalog]) -> None:
    url, catalog = seeded
    # A long idle interval: only the notifications can explain what follows.
    with ready_client(url, refresh=60) as client:
        wait_until(lambda: _status(client)["listening"])
        version = _version(client)
        space = sorted(catalog.theme_ids("space"))
        query = {"mode": "semantic", "q": "space adventure galaxy", "n": "5"}
        with psycopg.connect(url) as conn:  # a new item, embedded: searchable
            new_id = conn.execute(
                "INSERT INTO items (external_id, title, description) VALUES"
                " ('n:1', 'Space Adventure Galaxy', 'space adventure galaxy starship')"
                " RETURNING id"
            ).fetchone()[0]  # type: ignore[index]
            embed_all(conn, only_missing=True)
        wait_until(lambda: new_id in _ids(client, "/recommendations", **query))
        with psycopg.connect(url) as conn:  # a title update and an unavailable item
            conn.execute("UPDATE items SET title = 'Renamed Voyage' WHERE id = %s", (space[0],))
            conn.execute("UPDATE items SET available = false WHERE id = %s", (new_id,))

        def renamed() -> bool:
            body = client.get(f"/items/{space[1]}/similar", params={"n": "40"}).json()
            return any(r["title"] == "Renamed Voyage" for r in body["results"])

        wait_until(renamed)
        available = _ids(client, "/recommendations", **query, available="true")
        assert new_id not in available and len(available) == 5
        assert new_id in _ids(client, "/recommendations", **query, available="false")
        with psycopg.connect(url) as conn:  # deleted straight in SQL: gone once notified
            conn.execute("DELETE FROM items WHERE id = %s", (new_id,))
        wait_until(lambda: new_id not in _ids(client, "/recommendations", **query))
        status = _status(client)
        # Applied as deltas, no rebuild: same version, a small overlay.
        assert status["version"] == version and status["overlay_items"] >= 2
        assert status["changes_applied"] >= 3 and status["stale"] is False


def test_a_notification_carries_no_data(seeded: tuple[str, Catalog]) -> None:
    url, catalog = seeded
    with ready_client(url, refresh=60) as client:
        wait_until(lambda: _status(client)["listening"])
        version = _version(client)
        item = min(catalog.rows)
        before = client.get(f"/items/{item + 1}/similar", params={"n": "40"}).json()
        with psycopg.connect(url, autocommit=True) as conn:  # any role may NOTIFY
            forged = json.dumps({"ids": [item], "title": "Hacked", "available": False})
            conn.execute("SELECT pg_notify('pgrec_changes', %s)", (forged,))
            conn.execute("SELECT pg_notify('pgrec_changes', 'not json')")
            conn.execute("SELECT pg_notify('pgrec_changes', '{\"full\": true}')")
        wait_until(lambda: _status(client)["changes_applied"] >= 1)
        after = client.get(f"/items/{item + 1}/similar", params={"n": "40"}).json()
        # The named item was read again: as it is in the database, nothing injected.
        assert after["results"] == before["results"]
        assert all(r["title"] != "Hacked" for r in after["results"])
        # "Reload everything" found the database unchanged: the same version is mapped.
        assert _version(client) == version


def test_deleted_items_never_come_back(seeded: tuple[str, Catalog]) -> None:
    url, catalog = seeded
    with ready_client(url, refresh=60) as client:
        params = {"mode": "semantic", "q": "space adventure galaxy", "n": "5"}
        before = client.get("/recommendations", params=params).json()
        top = [r["id"] for r in before["results"]]
        for item_id in top[:3]:
            assert client.delete(f"/items/{item_id}", headers=KEY).status_code == 204
        assert client.delete(f"/items/{top[0]}", headers=KEY).status_code == 404
        # At once (this worker applies its own writes before answering), same version.
        after = client.get("/recommendations", params=params).json()
        assert after["snapshot_version"] == before["snapshot_version"]
        assert after["count"] == 5 and not set(top[:3]) & {r["id"] for r in after["results"]}
        assert client.get(f"/items/{top[0]}").status_code == 404
        assert client.get(f"/items/{top[0]}/similar").status_code == 404
        other = min(catalog.theme_ids("space") - set(top[:3]))
        similar = client.get(f"/items/{other}/similar", params={"n": "50"}).json()
        assert similar["backend"] == "faiss" and not set(top[:3]) & {
            r["id"] for r in similar["results"]
        }
        more = client.post("/recommendations/from-items", json={"positive": [top[0], other]}).json()
        assert more["missing_ids"] == [top[0]]
        assert not set(top[:3]) & {r["id"] for r in more["results"]}


def test_a_lost_listener_reconnects_and_reconciles(seeded: tuple[str, Catalog]) -> None:
    url, _ = seeded
    with ready_client(url, refresh=60) as client:
        wait_until(lambda: _status(client)["listening"])
        version = _version(client)
        with psycopg.connect(url) as conn:
            # Kill the API's LISTEN connection, then commit a change it cannot hear.
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
            )
            conn.execute("SELECT pg_sleep(0.3)")
            new_id = conn.execute(
                "INSERT INTO items (external_id, title, description) VALUES"
                " ('lost:1', 'Unheard Galaxy', 'space adventure galaxy') RETURNING id"
            ).fetchone()[0]  # type: ignore[index]
            embed_all(conn, only_missing=True)
        query = {"mode": "semantic", "q": "unheard galaxy space", "n": "3"}
        wait_until(lambda: new_id in _ids(client, "/recommendations", **query))
        # Reconciled by a full reload (the fingerprint moved while nobody listened).
        assert _version(client) > version and _status(client)["listening"]


class Load:
    """Threads hammering the API; records every failure and what each response returned."""

    def __init__(self, base: str, catalog: Catalog, threads: int = 8) -> None:
        self.base = base
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.seen: list[tuple[float, set[int], int | None]] = []  # (sent at, ids, version)
        self.count = 0
        space = sorted(catalog.theme_ids("space"))
        self.requests: list[tuple[str, str, dict[str, Any], Any]] = [
            ("GET", "/recommendations", {"mode": "semantic", "q": "space adventure"}, None),
            ("GET", "/recommendations", {"mode": "hybrid", "q": "heist love"}, None),
            ("GET", f"/items/{space[-1]}/similar", {"n": "30"}, None),
            ("POST", "/recommendations/from-items", {}, {"positive": space[-2:]}),
            ("GET", "/recommendations", {"mode": "semantic", "q": "chef", "kind": "Movie"}, None),
        ]
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _run(self, offset: int) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            i = offset
            while not self.stop.is_set():
                method, path, params, body = self.requests[i % len(self.requests)]
                i += 1
                sent = time.monotonic()
                try:
                    response = http.request(method, path, params=params, json=body)
                except httpx.HTTPError as err:
                    with self._lock:
                        self.failures.append(f"{path}: {err!r}")
                    continue
                with self._lock:
                    self.count += 1
                    if response.status_code != 200:
                        self.failures.append(f"{path}: {response.status_code} {response.text}")
                        continue
                    body_json = response.json()
                    ids = {r["id"] for r in body_json["results"]}
                    self.seen.append((sent, ids, body_json.get("snapshot_version")))


def test_swaps_under_load_fail_no_request(seeded: tuple[str, Catalog]) -> None:
    url, catalog = seeded
    with running_server(make_app(url, refresh=0.3)) as base, httpx.Client(base_url=base) as http:
        wait_ready(http)
        first = _version(http)
        deleted: dict[int, float] = {}
        victims = sorted(catalog.theme_ids("space"))[:4]  # close to the queries' answers
        with Load(base, catalog) as load:
            for round_ in range(4):
                time.sleep(0.4)
                _bump_vectors(url, notify=round_ % 2 == 0, seed=round_)
                with psycopg.connect(url) as conn:
                    conn.execute(
                        "INSERT INTO items (external_id, title, description)"
                        " VALUES (%s, %s, 'space adventure galaxy')",
                        (f"new:{round_}", f"New Space Film {round_}"),
                    )
                    embed_all(conn, only_missing=True)
                victim = victims[round_]
                response = http.delete(f"/items/{victim}", headers=KEY)
                assert response.status_code == 204
                deleted[victim] = time.monotonic()
            time.sleep(0.8)
        changes = _status(http)["changes_applied"]
    assert not load.failures, load.failures[:5]
    assert load.count > 50
    assert changes >= 4, changes  # every round reached the overlay
    versions = {v for _, _, v in load.seen if v is not None}
    assert versions and min(versions) >= first  # each answer names its version
    for sent, ids, _ in load.seen:
        for victim, gone_at in deleted.items():
            assert not (sent > gone_at and victim in ids), f"deleted {victim} came back"


def test_every_pooled_backend_is_warmed_at_start(seeded: tuple[str, Catalog]) -> None:
    """Once connected, the refresher warms WARM_CONNECTIONS pooled connections at once, each
    backend running rec.semantic down its paths (a fresh backend's first calls compile the
    functions: 25-75 ms each under load, docs/serving.md)."""
    from api.runtime import WARM_CONNECTIONS

    url, _ = seeded
    with psycopg.connect(url, autocommit=True) as admin:
        database = admin.execute("SELECT current_database()").fetchone()
        assert database is not None
        admin.execute(f"ALTER DATABASE \"{database[0]}\" SET track_functions = 'pl'")

    def semantic_calls() -> int:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions"
                " WHERE schemaname = 'rec' AND funcname = 'semantic'"
            ).fetchone()
        return int(row[0]) if row else 0

    with ready_client(url) as client:
        refresher = client.app.state["refresher"]
        runtime = client.app.state["runtime"]
        wait_until(lambda: refresher.warmed >= WARM_CONNECTIONS)
        assert runtime.engine.pool.size() >= WARM_CONNECTIONS  # all of them, at once
        # An idle backend reports its function counts within ~10 s (PostgreSQL's stats interval).
        wait_until(lambda: semantic_calls() >= 3 * WARM_CONNECTIONS, timeout=25)
