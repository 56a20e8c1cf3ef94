"""Bad input through HTTP: a 4xx naming the parameter, never a 500; API keys; not-ready 503.

No database: the app is lazy and points at a closed port, and every case here is refused
before any query runs (which is itself the point: validation happens first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from db.settings import Settings
from jobs.embedder import FakeEmbedder

KEY = "s3cret"
NOWHERE = "postgresql://nobody@127.0.0.1:9/nowhere?connect_timeout=1"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient[Litestar]]:
    app = create_app(
        Settings(database_url=NOWHERE, api_key=KEY),
        embedder_factory=lambda model: FakeEmbedder(dim=model.dim),
        lazy=True,
        refresh_interval=60,
    )
    with TestClient(app) as c:
        yield c


R = "/recommendations"
F = "/recommendations/from-items"
OK = {"mode": "terms", "q": "space"}
# (label, method, path, query params, json body, status, parameter named in the detail)
CASES: list[tuple[str, str, str, Any, Any, int, str]] = [
    ("unknown mode", "GET", R, {"mode": "vibes", "q": "x"}, None, 400, "mode"),
    ("missing q", "GET", R, {"mode": "terms"}, None, 400, "q"),
    ("empty q", "GET", R, {"mode": "terms", "q": "   "}, None, 400, "q"),
    ("q too long", "GET", R, {**OK, "q": "x" * 501}, None, 400, "q"),
    ("q with NUL", "GET", R, {**OK, "q": "a\x00b"}, None, 400, "q"),
    ("category with NUL", "GET", R, {**OK, "category": "a\x00"}, None, 400, "category"),
    ("attr with NUL", "GET", R, {**OK, "attr.country": "In\x00dia"}, None, 400, "attr.country"),
    ("user id with NUL", "GET", "/users/a%00b/recommendations", {}, None, 400, "user_id"),
    ("n zero", "GET", R, {**OK, "n": "0"}, None, 400, "n"),
    ("n too big", "GET", R, {**OK, "n": "101"}, None, 400, "n"),
    ("n not a number", "GET", R, {**OK, "n": "ten"}, None, 400, "n"),
    ("year not a number", "GET", R, {**OK, "year_min": "199x"}, None, 400, "year_min"),
    (
        "year range reversed",
        "GET",
        R,
        {**OK, "year_min": "2020", "year_max": "2000"},
        None,
        400,
        "year_min",
    ),
    ("negative price", "GET", R, {**OK, "price_min": "-1"}, None, 400, "price_min"),
    (
        "price range reversed",
        "GET",
        R,
        {**OK, "price_min": "9", "price_max": "1"},
        None,
        400,
        "price_min",
    ),
    ("available not a bool", "GET", R, {**OK, "available": "maybe"}, None, 400, "available"),
    (
        "category_mode unknown",
        "GET",
        R,
        {**OK, "category_mode": "most"},
        None,
        400,
        "category_mode",
    ),
    ("empty category", "GET", R, {**OK, "category": ""}, None, 400, "category"),
    ("exclude not ids", "GET", R, {**OK, "exclude": "1,abc"}, None, 400, "exclude"),
    ("unknown field", "GET", R, {**OK, "fields": "year,colour"}, None, 400, "fields"),
    ("diversity above 1", "GET", R, {**OK, "diversity": "1.5"}, None, 400, "diversity"),
    ("negative freshness", "GET", R, {**OK, "freshness": "-0.1"}, None, 400, "freshness"),
    ("popularity not finite", "GET", R, {**OK, "popularity": "nan"}, None, 400, "popularity"),
    ("unknown group_by", "GET", R, {**OK, "group_by": "colour"}, None, 400, "group_by"),
    ("group_cap alone", "GET", R, {**OK, "group_cap": "2"}, None, 400, "group_cap"),
    (
        "group_cap zero",
        "GET",
        R,
        {**OK, "group_by": "kind", "group_cap": "0"},
        None,
        400,
        "group_cap",
    ),
    ("attr without name", "GET", R, {**OK, "attr.": "India"}, None, 400, "attr."),
    ("attr empty value", "GET", R, {**OK, "attr.country": ""}, None, 400, "attr.country"),
    ("unknown parameter", "GET", R, {**OK, "catgory": "Dramas"}, None, 400, "catgory"),
    ("malformed JSON", "POST", F, {}, b"{positive: [1,", 400, "body"),
    ("body not an object", "POST", F, {}, [1, 2], 400, "body"),
    ("positive missing", "POST", F, {}, {"negative": [1]}, 400, "positive"),
    ("positive empty", "POST", F, {}, {"positive": []}, 400, "positive"),
    ("positive not ids", "POST", F, {}, {"positive": ["one"]}, 400, "positive"),
    ("positive id zero", "POST", F, {}, {"positive": [0]}, 400, "positive"),
    ("unknown body field", "POST", F, {}, {"positive": [1], "like": [2]}, 400, "body"),
    ("id in both lists", "POST", F, {}, {"positive": [1], "negative": [1]}, 400, "negative"),
    (
        "weight for a stranger",
        "POST",
        F,
        {},
        {"positive": [1], "weights": {"2": 1.0}},
        400,
        "weights",
    ),
    ("negative weight", "POST", F, {}, {"positive": [1], "weights": {"1": -1}}, 400, "weights"),
    ("weight key not an id", "POST", F, {}, {"positive": [1], "weights": {"x": 1}}, 400, "weights"),
    ("from-items bad n", "POST", F, {"n": "0"}, {"positive": [1]}, 400, "n"),
    ("item id zero", "GET", "/items/0", {}, None, 400, "item_id"),
    ("similar bad n", "GET", "/items/1/similar", {"n": "1000"}, None, 400, "n"),
    ("similar unknown param", "GET", "/items/1/similar", {"q": "x"}, None, 400, "q"),
    (
        "user bad filter",
        "GET",
        "/users/u1/recommendations",
        {"year_max": "x"},
        None,
        400,
        "year_max",
    ),
    (
        "interaction bad event",
        "POST",
        "/interactions",
        {},
        [{"user_id": "u", "item_id": 1, "event": "poke"}],
        400,
        "event",
    ),
    (
        "interaction without item",
        "POST",
        "/interactions",
        {},
        [{"user_id": "u", "event": "view"}],
        400,
        "body[0]",
    ),
    (
        "interaction blank user",
        "POST",
        "/interactions",
        {},
        [{"user_id": " ", "item_id": 1, "event": "view"}],
        400,
        "user_id",
    ),
    (
        "interaction naive time",
        "POST",
        "/interactions",
        {},
        [{"user_id": "u", "item_id": 1, "event": "view", "occurred_at": "2024-01-01T00:00:00"}],
        400,
        "occurred_at",
    ),
    ("interactions empty", "POST", "/interactions", {}, [], 400, "body"),
    ("item without title", "POST", "/items", {}, [{"external_id": "x:1"}], 400, "title"),
    (
        "item bad year",
        "POST",
        "/items",
        {},
        [{"external_id": "x:1", "title": "T", "year": "soon"}],
        400,
        "year",
    ),
    ("items not a list", "POST", "/items", {}, {"external_id": "x:1"}, 400, "body"),
]


@pytest.mark.parametrize(
    ("label", "method", "path", "params", "body", "status", "parameter"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_bad_input_is_a_4xx_naming_the_parameter(
    client: TestClient[Litestar],
    label: str,
    method: str,
    path: str,
    params: Any,
    body: Any,
    status: int,
    parameter: str,
) -> None:
    headers = {"X-API-Key": KEY}
    if isinstance(body, bytes):
        headers["content-type"] = "application/json"
        response = client.request(method, path, params=params, content=body, headers=headers)
    elif body is None:
        response = client.request(method, path, params=params, headers=headers)
    else:
        response = client.request(method, path, params=params, json=body, headers=headers)
    assert response.status_code == status, (label, response.text)
    payload = response.json()
    assert parameter in payload["detail"], (label, payload)
    assert payload["status_code"] == status


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/items", [{"external_id": "x:1", "title": "T"}]),
        ("DELETE", "/items/1", None),
        ("POST", "/interactions", [{"user_id": "u", "item_id": 1, "event": "view"}]),
        ("POST", "/load_models", None),
    ],
)
def test_writes_need_the_api_key(
    client: TestClient[Litestar], method: str, path: str, body: Any
) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, response.text
        assert "X-API-Key" in response.json()["detail"]


def test_reads_need_no_key_and_unknown_routes_are_404(client: TestClient[Litestar]) -> None:
    assert client.get("/health/live").status_code == 200
    assert client.get("/items/abc").status_code == 404
    assert client.get("/nope").status_code == 404


def test_not_ready_is_503_with_retry_after(client: TestClient[Litestar]) -> None:
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert int(ready.headers["retry-after"]) > 0
    semantic = client.get(R, params={"mode": "semantic", "q": "space"})
    assert semantic.status_code == 503 and "retry-after" in semantic.headers
    hybrid = client.get(R, params={"mode": "hybrid", "q": "space"})
    assert hybrid.status_code == 503


def test_readiness_names_an_unknown_required_mode(client: TestClient[Litestar]) -> None:
    bad = client.get("/health/ready", params={"require": "semantic,telepathy"})
    assert bad.status_code == 400
    assert "require" in bad.json()["detail"] and "telepathy" in bad.json()["detail"]
    # Known modes: still 503 while nothing is loaded.
    assert client.get("/health/ready", params={"require": "similar"}).status_code == 503


def test_an_empty_requirement_requires_nothing() -> None:
    from api.controllers.system import required_modes

    assert required_modes(["", "semantic,", " , terms", "semantic"]) == ["semantic", "terms"]


def test_readiness_knows_every_mode_it_reports() -> None:
    from api.controllers.system import MODES, modes_up

    class Down:
        view = serving = None
        database_up = False

    assert tuple(modes_up(Down())) == MODES  # type: ignore[arg-type]


def test_database_down_is_503_not_500(client: TestClient[Litestar]) -> None:
    response = client.get(R, params={"mode": "terms", "q": "space"})
    assert response.status_code == 503, response.text
    assert "retry-after" in response.headers


def test_openapi_schema_and_ui(client: TestClient[Litestar]) -> None:
    schema = client.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {
        "/recommendations",
        "/recommendations/from-items",
        "/items/{item_id}/similar",
        "/users/{user_id}/recommendations",
        "/status",
        "/metrics",
    } <= set(paths)
    names = {p["name"] for p in paths["/recommendations"]["get"]["parameters"]}
    assert {"mode", "q", "n", "category", "year_min", "diversity", "group_by"} <= names
    ui = client.get("/schema")
    assert ui.status_code == 200 and "<html" in ui.text.lower()
    assert client.get("/schema/swagger").status_code == 200
