"""The FAISS snapshot's lifecycle through HTTP: lazy load, readiness, NOTIFY and the fallback
check, atomic swaps under concurrent load, and deleted items never coming back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
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


@pytest.fixture
def no_listen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """LISTEN impossible (a pooler in transaction mode, say): only the fallback check is left.

    Also how a test keeps a snapshot still: the vector triggers (migration 0002) NOTIFY on
    every change, and a long check interval then means no rebuild during the test.
    """
    import api.refresher

    async def refuse(**_: Any) -> Any:
        raise psycopg.OperationalError("LISTEN not available")

    monkeypatch.setattr(api.refresher, "open_listener", refuse)
    yield


def test_notify_rebuilds_the_snapshot(seeded: tuple[str, Catalog]) -> None:
    url, _ = seeded
    # A long fallback interval: only the NOTIFY can explain a quick rebuild.
    with ready_client(url, refresh=60) as client:
        wait_until(lambda: client.get("/status").json()["snapshot"]["listening"])
        assert _version(client) == 1
        _bump_vectors(url, notify=True)
        wait_until(lambda: _version(client) >= 2, timeout=10)
        assert client.get("/status").json()["snapshot"]["stale"] is False


@pytest.mark.usefixtures("no_listen")
def test_status_shows_a_stale_snapshot(seeded: tuple[str, Catalog]) -> None:
    url, _ = seeded
    with ready_client(url, refresh=60) as client:
        status = client.get("/status").json()["snapshot"]
        assert status["listening"] is False and status["stale"] is False
        _bump_vectors(url, notify=True)
        status = client.get("/status").json()["snapshot"]
        assert status["stale"] is True and status["version"] == 1


@pytest.mark.usefixtures("no_listen")
def test_fallback_check_catches_changes_without_notify(seeded: tuple[str, Catalog]) -> None:
    url, catalog = seeded
    with ready_client(url, refresh=0.2) as client:
        before = _version(client)
        time.sleep(0.6)
        assert _version(client) == before  # nothing changed: no rebuild
        _bump_vectors(url, notify=False)
        wait_until(lambda: _version(client) > before, timeout=10)
        size = client.get("/status").json()["snapshot"]["size"]
        with psycopg.connect(url) as conn:  # a deletion alone changes the signature too
            conn.execute("DELETE FROM items WHERE id = %s", (min(catalog.rows),))
        wait_until(lambda: client.get("/status").json()["snapshot"]["size"] == size - 1)


@pytest.mark.usefixtures("no_listen")
def test_deleted_items_never_come_back(seeded: tuple[str, Catalog]) -> None:
    url, catalog = seeded
    with ready_client(url, refresh=60) as client:
        params = {"mode": "semantic", "q": "space adventure galaxy", "n": "5"}
        before = client.get("/recommendations", params=params).json()
        top = [r["id"] for r in before["results"]]
        for item_id in top[:3]:
            assert client.delete(f"/items/{item_id}", headers=KEY).status_code == 204
        assert client.delete(f"/items/{top[0]}", headers=KEY).status_code == 404
        after = client.get("/recommendations", params=params).json()
        # Same snapshot (no rebuild yet), yet the deleted items are gone and n is kept.
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
        last = _version(http)
    assert not load.failures, load.failures[:5]
    assert load.count > 50
    assert last >= first + 3, (first, last)
    versions = {v for _, _, v in load.seen if v is not None}
    assert len(versions) >= 3  # requests were answered by several successive snapshots
    for sent, ids, _ in load.seen:
        for victim, gone_at in deleted.items():
            assert not (sent > gone_at and victim in ids), f"deleted {victim} came back"
