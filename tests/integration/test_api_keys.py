"""Keys and limits (issue 15, defect 5): key lists, the read key, history behind a key, 429.

Apps are built with explicit settings; the server's refusal to start without a key is in
tests/unit/test_api_cli.py, the compose file's in tests/unit/test_compose.py.
"""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.auth import key_matches
from api.ratelimit import RateLimiter
from db.settings import Settings
from jobs.embedder import FakeEmbedder
from tests.support.api import Catalog, wait_ready


def _client(url: str, **settings: object) -> TestClient[Litestar]:
    app = create_app(
        Settings(database_url=url, **settings),  # type: ignore[arg-type]
        embedder_factory=lambda model: FakeEmbedder(dim=model.dim, name=model.name),
        refresh_interval=60,
    )
    return TestClient(app)


def test_key_lists_rotate(api_catalog_url: str, catalog: Catalog) -> None:
    event = [{"user_id": "rot", "event": "view", "item_id": min(catalog.ids.values())}]
    with _client(api_catalog_url, api_key="old-key, new-key", rate_limit=0) as client:
        for key, status in (("old-key", 200), ("new-key", 200), ("other", 401), (None, 401)):
            headers = {"X-API-Key": key} if key else {}
            r = client.post("/interactions", json=event, headers=headers)
            assert r.status_code == status, (key, r.text)
        # Reads stay open without a read key.
        assert client.get(f"/items/{min(catalog.ids.values())}").status_code == 200


def test_read_key_guards_reads(api_catalog_url: str, catalog: Catalog) -> None:
    item = min(catalog.ids.values())
    with _client(api_catalog_url, api_key="w", read_key="r1,r2", rate_limit=0) as client:
        wait_ready(client)
        for path in (f"/items/{item}", "/users/alice/recommendations", "/status"):
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers={"X-API-Key": "r2"}).status_code == 200, path
            assert client.get(path, headers={"X-API-Key": "w"}).status_code == 200, path
        r = client.get(
            "/recommendations", params={"mode": "terms", "q": "space"}, headers={"X-API-Key": "x"}
        )
        assert r.status_code == 401 and "read key" in r.json()["detail"]
        # Liveness and readiness stay open for orchestrators.
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/ready").status_code == 200
        # A read key does not open writes.
        event = [{"user_id": "r", "event": "view", "item_id": item}]
        assert (
            client.post("/interactions", json=event, headers={"X-API-Key": "r1"}).status_code == 401
        )


def test_a_users_history_needs_a_key(api_catalog_url: str, catalog: Catalog) -> None:
    with _client(api_catalog_url, api_key="w", rate_limit=0) as client:
        wait_ready(client)
        path = "/users/alice/recommendations"
        assert client.get(path).status_code == 200  # reads are open without a read key
        r = client.get(path, params={"explain": "true"})
        assert r.status_code == 401  # but explain shows what alice liked
        ok = client.get(path, params={"explain": "true"}, headers={"X-API-Key": "w"})
        assert ok.status_code == 200, ok.text
        body = {"positive": [min(catalog.ids.values())], "user_id": "alice"}
        r = client.post("/recommendations/from-items?explain=true", json=body)
        assert r.status_code == 401
        assert client.post("/recommendations/from-items", json=body).status_code == 200


def test_rate_limit_answers_429_with_retry_after(api_catalog_url: str, catalog: Catalog) -> None:
    item = min(catalog.ids.values())
    with _client(api_catalog_url, api_key="a,b", rate_limit=3) as client:
        for _ in range(3):
            assert client.get(f"/items/{item}", headers={"X-API-Key": "a"}).status_code == 200
        r = client.get(f"/items/{item}", headers={"X-API-Key": "a"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["status_code"] == 429
        # Per key: another key has its own budget; health checks are never limited.
        assert client.get(f"/items/{item}", headers={"X-API-Key": "b"}).status_code == 200
        assert client.get("/health/live").status_code == 200


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one per second
    assert all(limiter.take("k") == 0 for _ in range(60))
    assert limiter.take("k") == pytest.approx(1.0)
    now[0] = 2.0
    assert limiter.take("k") == 0 and limiter.take("other") == 0


def test_key_matching() -> None:
    assert key_matches("b", ("a", "b")) and not key_matches("c", ("a", "b"))
    assert not key_matches("", ()) and not key_matches("a", ())
