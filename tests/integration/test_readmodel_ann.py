"""The API on an IVF read model (threshold set below the catalog's size): it serves the same
items as the exact one, and changes and deletes notified by Postgres still apply."""

from __future__ import annotations

import psycopg
import pytest
from litestar.testing import TestClient

from api.app import create_app
from jobs.embedder import FakeEmbedder
from tests.support.api import API_KEY, Catalog, seed, settings_for, wait_ready, wait_until

KEY = {"X-API-Key": API_KEY}
QUERY = {"mode": "semantic", "q": "space adventure galaxy", "n": "5"}


def _client(url: str, threshold: int) -> TestClient:  # type: ignore[type-arg]
    settings = settings_for(url).model_copy(update={"readmodel_ann_min_items": threshold})
    app = create_app(
        settings,
        embedder_factory=lambda model: FakeEmbedder(dim=model.dim, name=model.name),
        refresh_interval=0.2,
    )
    return TestClient(app)


def _ids(client: TestClient, path: str, **params: str) -> list[int]:  # type: ignore[type-arg]
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return [int(r["id"]) for r in response.json()["results"]]


@pytest.fixture
def seeded(fresh_db_url: str) -> tuple[str, Catalog]:
    return fresh_db_url, seed(fresh_db_url)


def _answers(url: str, threshold: int, index: str, anchor: int) -> tuple[list[int], ...]:
    """A semantic list and an item-to-item list from a read model of the `index` kind."""
    with _client(url, threshold=threshold) as client:
        wait_ready(client)
        assert client.get("/status").json()["snapshot"]["index"] == index
        return (
            _ids(client, "/recommendations", **QUERY),
            _ids(client, f"/items/{anchor}/similar"),
        )


def test_ivf_read_model_answers_like_the_exact_one(seeded: tuple[str, Catalog]) -> None:
    url, catalog = seeded
    anchor = min(catalog.theme_ids("space"))
    exact = _answers(url, 0, "flat", anchor)
    found = _answers(url, 1, "ivf_fp16", anchor)
    # A catalog this small has fewer cells than nprobe: IVF scans them all; only float16
    # rounding may swap near-ties.
    for got, want in zip(found, exact, strict=True):
        assert len(got) == len(want) and len(set(got) & set(want)) >= 0.9 * len(want)


def test_ivf_read_model_applies_changes_and_deletes(seeded: tuple[str, Catalog]) -> None:
    url, catalog = seeded
    with _client(url, threshold=1) as client:
        wait_ready(client)
        wait_until(lambda: client.get("/status").json()["snapshot"]["listening"])
        top = _ids(client, "/recommendations", **QUERY)
        for item in top[:2]:  # through the API: gone at once
            assert client.delete(f"/items/{item}", headers=KEY).status_code == 204
        with psycopg.connect(url) as conn:  # straight in SQL: gone once notified
            conn.execute("DELETE FROM items WHERE id = %s", (top[2],))
        wait_until(lambda: top[2] not in _ids(client, "/recommendations", **QUERY))
        after = _ids(client, "/recommendations", **{**QUERY, "n": "50"})
        assert not set(top[:3]) & set(after) and len(after) >= 5
        other = min(catalog.theme_ids("space") - set(top[:3]))
        assert not set(top[:3]) & set(_ids(client, f"/items/{other}/similar", n="50"))
        with psycopg.connect(url) as conn:
            conn.execute("UPDATE items SET title = 'Renamed In SQL' WHERE id = %s", (other,))
        wait_until(lambda: client.get(f"/items/{other}").json().get("title") == "Renamed In SQL")
        status = client.get("/status").json()["snapshot"]
        assert status["index"] == "ivf_fp16" and status["overlay_items"] >= 3
