"""Writes through HTTP: item upserts (the ingest's validation), deletes, interactions; the API
key; unknown items and users; new items reaching the vector modes once embedded."""

from __future__ import annotations

import psycopg
from litestar import Litestar
from litestar.testing import TestClient

from tests.support.api import (
    API_KEY,
    Catalog,
    embed_all,
    ready_client,
    seed,
    wait_until,
)

KEY = {"X-API-Key": API_KEY}


def _version(client: TestClient[Litestar]) -> int:
    return int(client.get("/status").json()["snapshot"]["version"])


def test_item_upsert_then_embedding_makes_it_recommendable(fresh_db_url: str) -> None:
    seed(fresh_db_url)
    with ready_client(fresh_db_url, refresh=60) as client:
        new = [
            {
                "external_id": "n:1",
                "title": "Zebra Safari Nights",
                "description": "zebra savanna",
                "categories": "Documentaries|Nature",
                "year": "2021",
                "price": 4.5,
                "country": "Kenya",
            },
            {"external_id": "n:2", "title": "Quiet Zebra", "kind": "Movie"},
        ]
        assert client.post("/items", json=new).status_code == 401
        written = client.post("/items", json=new, headers=KEY)
        assert written.status_code == 200, written.text
        body = written.json()
        assert (body["received"], body["inserted"], body["updated"]) == (2, 2, 0)
        item_id = body["ids"]["n:1"]
        item = client.get(f"/items/{item_id}").json()
        assert item["categories"] == ["Documentaries", "Nature"] and item["year"] == 2021
        assert item["attributes"] == {"country": "Kenya"} and item["price"] == 4.5
        again = client.post("/items", json=new, headers=KEY).json()
        assert (again["inserted"], again["unchanged"]) == (0, 2)

        status = client.get("/status").json()
        assert status["pending_embeddings"] == 2
        # Not in the snapshot yet: terms (Postgres) finds it, semantic (FAISS) cannot.
        terms = client.get("/recommendations", params={"mode": "terms", "q": "zebra"}).json()
        assert item_id in {r["id"] for r in terms["results"]}
        # The worker embeds and notifies; the snapshot follows.
        version = _version(client)
        with psycopg.connect(fresh_db_url) as conn:
            assert embed_all(conn, only_missing=True) == 2
            conn.execute("NOTIFY pgrec_vectors")
        wait_until(lambda: _version(client) > version)
        semantic = client.get(
            "/recommendations", params={"mode": "semantic", "q": "zebra savanna", "n": "2"}
        ).json()
        assert semantic["backend"] == "faiss" and semantic["results"][0]["id"] == item_id
        assert client.get("/status").json()["pending_embeddings"] == 0


def test_invalid_items_are_refused_whole(fresh_db_url: str) -> None:
    with ready_client(fresh_db_url, refresh=60) as client:
        batch = [{"external_id": "ok:1", "title": "Fine"}, {"external_id": "bad", "title": ""}]
        response = client.post("/items", json=batch, headers=KEY)
        assert response.status_code == 400
        assert "body[1].title" in response.json()["detail"]
        dup = [{"external_id": "d", "title": "A"}, {"external_id": "d", "title": "B"}]
        response = client.post("/items", json=dup, headers=KEY)
        assert response.status_code == 400 and "external_id" in response.json()["detail"]
        assert client.get("/status").json()["counts"]["items"] == 0


def test_interactions_batch(fresh_db_url: str) -> None:
    catalog: Catalog = seed(fresh_db_url)
    space = sorted(catalog.theme_ids("space"))
    with ready_client(fresh_db_url, refresh=60) as client:
        cold = client.get("/users/carol/recommendations", params={"explain": "true"})
        assert cold.status_code == 200, cold.text  # an unknown user gets popular items
        assert {r["explain"]["source"] for r in cold.json()["results"]} <= {"popular", "fresh"}
        events = [
            {"user_id": "carol", "item_id": space[0], "event": "like"},
            {
                "user_id": "carol",
                "external_id": catalog.rows[space[1]]["external_id"],
                "event": "rating",
                "value": 4.5,
                "occurred_at": "2024-05-01T10:00:00Z",
            },
            {"user_id": "carol", "item_id": 987654, "event": "view"},
            {"user_id": "carol", "external_id": "no-such", "event": "view"},
        ]
        response = client.post("/interactions", json=events, headers=KEY)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "received": 4,
            "inserted": 2,
            "duplicates": 0,
            "missing_item_ids": [987654],
            "missing_external_ids": ["no-such"],
        }
        repeat = client.post("/interactions", json=events[1:2], headers=KEY).json()
        assert (repeat["inserted"], repeat["duplicates"]) == (0, 1)
        recs = client.get("/users/carol/recommendations", params={"n": "5"})
        assert recs.status_code == 200, recs.text
        ids = {r["id"] for r in recs.json()["results"]}
        assert ids and not ids & set(space[:2])


def test_unknown_ids_are_404(fresh_db_url: str) -> None:
    seed(fresh_db_url)
    with ready_client(fresh_db_url, refresh=60) as client:
        for path in ("/items/999999", "/items/999999/similar"):
            response = client.get(path)
            assert response.status_code == 404 and "999999" in response.json()["detail"]
        filtered = client.get("/items/999999/similar", params={"kind": "Movie"})
        assert filtered.status_code == 404
        assert client.delete("/items/999999", headers=KEY).status_code == 404
        # An unknown user is no error: the user mode answers with popular items.
        assert client.get("/users/nobody/recommendations").status_code == 200
