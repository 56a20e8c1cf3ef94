"""GET /items/facets (rec.facets): the kinds, categories and tags the filters match, counted."""

from __future__ import annotations

from collections import Counter

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.support.api import API_KEY, Catalog

KEY = {"X-API-Key": API_KEY}


def _expected(catalog: Catalog) -> dict[str, Counter[str]]:
    kinds: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    for row in catalog.rows.values():
        if row["kind"] is not None:
            kinds[row["kind"].lower()] += 1
        categories.update(row["categories"] or [])
        tags.update(row["tags"] or [])
    return {"kinds": kinds, "categories": categories, "tags": tags}


def _ranked(counts: Counter[str], limit: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def test_facets_count_every_value_most_common_first(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    expected = _expected(catalog)
    body = client.get("/items/facets", params={"limit": 1000}).json()
    assert set(body) == {"kinds", "categories", "tags"}
    for facet in ("categories", "tags"):
        got = [(v["value"], v["items"]) for v in body[facet]]
        assert got == _ranked(expected[facet], 1000), facet
    kinds = [(v["value"].lower(), v["items"]) for v in body["kinds"]]
    assert kinds == _ranked(expected["kinds"], 1000)
    # `limit` cuts each list to the most common values.
    top = client.get("/items/facets", params={"limit": 2}).json()
    assert top["categories"] == body["categories"][:2] and len(top["tags"]) <= 2


def test_a_listed_category_is_a_filter_that_matches(client: TestClient[Litestar]) -> None:
    body = client.get("/items/facets", params={"limit": 1}).json()
    category = body["categories"][0]["value"]
    page = client.get(
        "/recommendations",
        params={"mode": "semantic", "q": "a story", "category": category, "fields": "categories"},
    )
    assert page.status_code == 200, page.text
    results = page.json()["results"]
    assert results and all(category in r["categories"] for r in results)


@pytest.mark.parametrize("limit", ["0", "1001", "many", "-1"])
def test_a_bad_limit_is_a_400_naming_it(client: TestClient[Litestar], limit: str) -> None:
    response = client.get("/items/facets", params={"limit": limit})
    assert response.status_code == 400
    body = response.json()
    assert body["extra"]["parameter"] == "limit"
    assert body["detail"].startswith("query parameter 'limit': ")


def test_a_new_category_shows_once_written(client: TestClient[Litestar]) -> None:
    """Facets are kept per read model view: a write makes a new view, and a new count."""
    before = client.get("/items/facets", params={"limit": 1000}).json()
    assert "Zz Facet Test" not in {v["value"] for v in before["categories"]}
    item = {"external_id": "facet:1", "title": "A Facet Test", "categories": "Zz Facet Test"}
    assert client.post("/items", json=[item], headers=KEY).status_code == 200
    after = client.get("/items/facets", params={"limit": 1000}).json()
    assert {"value": "Zz Facet Test", "items": 1} in after["categories"]
