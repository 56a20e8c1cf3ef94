"""Hostile input answers 4xx naming the problem, and the contract declares every answer.

Deep or huge JSON, other content types, ids beyond int64, out-of-range ratings, 1e308, NUL
characters, OPTIONS, and the status codes in /schema (defects 1 and 8 of issue 15).
"""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from api.bodies import MAX_DEPTH, json_depth
from tests.support.api import API_KEY, Catalog

KEY = {"X-API-Key": API_KEY}


def _json(body: str) -> dict[str, str]:
    return {"content-type": "application/json", **KEY}


def test_json_depth_skips_strings() -> None:
    assert json_depth(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', limit=3) <= 3
    assert json_depth(b"[" * 40 + b"]" * 40, limit=32) > 32
    assert json_depth(b'[["\\"[[[[", [1]]]', limit=2) == 3


def test_deep_json_is_a_400_not_a_500(client: TestClient[Litestar]) -> None:
    deep = "[" * 1000 + "]" * 1000
    for path in ("/recommendations/from-items", "/interactions", "/items"):
        r = client.post(path, content=deep, headers=_json(deep))
        assert r.status_code == 400, (path, r.text)
        assert f"deeper than {MAX_DEPTH}" in r.json()["detail"]
    nested = '{"positive": [1], "weights": ' + '{"1": ' * 200 + "1" + "}" * 200 + "}"
    r = client.post("/recommendations/from-items", content=nested, headers=_json(nested))
    assert r.status_code == 400 and r.json()["extra"]["parameter"] == "body"


def test_huge_body_is_a_413(client: TestClient[Litestar]) -> None:
    huge = '{"positive": [1], "user_id": "' + "x" * (17 * 1024 * 1024) + '"}'
    r = client.post("/recommendations/from-items", content=huge, headers=_json(huge))
    assert r.status_code == 413


def test_text_plain_is_a_415(client: TestClient[Litestar], catalog: Catalog) -> None:
    first = min(catalog.ids.values())
    body = f'{{"positive": [{first}]}}'
    r = client.post(
        "/recommendations/from-items", content=body, headers={"content-type": "text/plain"}
    )
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    ok = client.post("/recommendations/from-items", content=body, headers=_json(body))
    assert ok.status_code == 200, ok.text


def test_ids_beyond_int64_are_named(client: TestClient[Litestar]) -> None:
    r = client.get("/items/31501817525158465536")
    assert r.status_code == 400, r.text
    assert "item_id" in r.json()["detail"] and "bigint" not in r.json()["detail"]
    r = client.post("/recommendations/from-items", json={"positive": [2**63]})
    assert r.status_code == 400 and "positive" in r.json()["detail"]
    r = client.post(
        "/interactions", json=[{"user_id": "u", "event": "view", "item_id": 2**64}], headers=KEY
    )
    assert r.status_code == 400 and "item_id" in r.json()["detail"]


def test_rating_range_and_huge_values(client: TestClient[Litestar], catalog: Catalog) -> None:
    item = min(catalog.ids.values())
    for value, field in ((99, "body[0].value"), (1e308, "value"), (-1, "body[0].value")):
        event = {"user_id": "u", "event": "rating", "item_id": item, "value": value}
        r = client.post("/interactions", json=[event], headers=KEY)
        assert r.status_code == 400, (value, r.text)
        assert field in r.json()["detail"] and "overflow" not in r.json()["detail"]
    ok = {"user_id": "u", "event": "rating", "item_id": item, "value": 4.5}
    assert client.post("/interactions", json=[ok], headers=KEY).status_code == 200
    r = client.post(
        "/items", json=[{"external_id": "big:1", "title": "Big", "price": 1e308}], headers=KEY
    )
    assert r.status_code == 400 and "body[0].price" in r.json()["detail"], r.text


def test_nul_is_refused_everywhere(client: TestClient[Litestar]) -> None:
    r = client.get("/recommendations", params={"mode": "terms", "q": "space\x00x"})
    assert r.status_code == 400 and "q" in r.json()["detail"]
    r = client.post("/items", json=[{"external_id": "nul:1", "title": "A\x00B"}], headers=KEY)
    assert r.status_code == 400 and "title" in r.json()["detail"], r.text
    r = client.post(
        "/interactions", json=[{"user_id": "a\x00", "event": "view", "item_id": 1}], headers=KEY
    )
    assert r.status_code == 400 and "user_id" in r.json()["detail"]


def test_options_lists_get(client: TestClient[Litestar]) -> None:
    r = client.options("/recommendations")
    assert r.status_code in (200, 204)
    assert "GET" in r.headers["allow"]
    r = client.options("/items/1")
    assert {"GET", "DELETE"} <= {m.strip() for m in r.headers["allow"].split(",")}


def test_schema_declares_every_error_answer(client: TestClient[Litestar]) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    interactions = paths["/interactions"]["post"]["responses"]
    assert {"400", "401", "409", "413", "415", "429", "503"} <= set(interactions)
    assert {"400", "404", "429", "503"} <= set(paths["/items/{item_id}"]["get"]["responses"])
    assert "409" in paths["/items/{item_id}"]["delete"]["responses"]
    item_id = paths["/items/{item_id}"]["get"]["parameters"][0]["schema"]
    assert item_id["maximum"] == 2**63 - 1
