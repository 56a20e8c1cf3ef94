"""Every retrieval mode through HTTP on a seeded catalog: results, filters, re-ranking, explain.

These exercise `db.recs` (the rec.* SQL functions) end to end, so they need its bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api import fusion
from tests.support.api import Catalog

FIELDS = "kind,categories,tags,year,price,available,attributes,popularity"
Params = list[tuple[str, str | int | float | bool | None]]
Check = Callable[[dict[str, Any]], bool]


def _attr_has(row: dict[str, Any], name: str, value: str) -> bool:
    got = row["attributes"].get(name)
    return value in got if isinstance(got, list) else got == value


# (label, query parameters, predicate over a result row carrying FIELDS)
FILTERS: list[tuple[str, Params, Check]] = [
    ("category", [("category", "Dramas")], lambda r: "Dramas" in r["categories"]),
    (
        "categories-all",
        [
            ("category", "Sci-Fi & Fantasy"),
            ("category", "Action & Adventure"),
            ("category_mode", "all"),
        ],
        lambda r: {"Sci-Fi & Fantasy", "Action & Adventure"} <= set(r["categories"]),
    ),
    (
        "kind-years",
        [("kind", "Movie"), ("year_min", "2000"), ("year_max", "2015")],
        lambda r: r["kind"] == "Movie" and 2000 <= r["year"] <= 2015,
    ),
    (
        "price-available",
        [("price_min", "3"), ("price_max", "9"), ("available", "true")],
        lambda r: r["available"] and r["price"] is not None and 3 <= r["price"] <= 9,
    ),
    ("attribute", [("attr.country", "India")], lambda r: _attr_has(r, "country", "India")),
    ("tag", [("tag", "tag1")], lambda r: "tag1" in r["tags"]),
]
TEXT_MODES = [
    ("semantic", "space adventure galaxy"),
    ("terms", "love OR heist OR space OR chef"),
    ("title", "the heist"),
    ("hybrid", "space heist love chef"),
]


def _get(client: TestClient[Litestar], path: str, params: Params) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _matching(catalog: Catalog, check: Check) -> set[int]:
    return {i for i, row in catalog.rows.items() if check(row)}


@pytest.mark.parametrize(("label", "params", "check"), FILTERS, ids=[f[0] for f in FILTERS])
@pytest.mark.parametrize(("mode", "q"), TEXT_MODES, ids=[m[0] for m in TEXT_MODES])
def test_text_modes_respect_filters(
    client: TestClient[Litestar],
    catalog: Catalog,
    mode: str,
    q: str,
    label: str,
    params: Params,
    check: Check,
) -> None:
    body = _get(
        client,
        "/recommendations",
        [("mode", mode), ("q", q), ("n", "50"), ("fields", FIELDS), *params],
    )
    assert body["mode"] == mode
    assert body["backend"] == "postgres"  # any filter but exclude goes to the rec.* functions
    for result in body["results"]:
        assert check(result), (label, result)
    if mode == "semantic":  # full recall: every matching item has a vector
        assert body["count"] == min(50, len(_matching(catalog, check)))


@pytest.mark.parametrize("mode", ["semantic", "terms", "hybrid"])
def test_kind_matches_in_any_case(
    client: TestClient[Litestar], catalog: Catalog, mode: str
) -> None:
    """The catalog stores "Movie": kind=movie and kind=MOVIE are the same filter (0021)."""
    answers = [
        _get(client, "/recommendations", [("mode", mode), ("q", "space"), ("kind", kind)])
        for kind in ("Movie", "movie", "MOVIE")
    ]
    ids = [[r["id"] for r in a["results"]] for a in answers]
    assert ids[0] and ids[0] == ids[1] == ids[2]
    assert all(catalog.rows[i]["kind"] == "Movie" for i in ids[0])


@pytest.mark.parametrize(("label", "params", "check"), FILTERS, ids=[f[0] for f in FILTERS])
def test_item_modes_respect_filters(
    client: TestClient[Litestar], catalog: Catalog, label: str, params: Params, check: Check
) -> None:
    space = sorted(catalog.theme_ids("space"))
    matching = _matching(catalog, check)
    similar = _get(client, f"/items/{space[0]}/similar", [("n", "50"), ("fields", FIELDS), *params])
    assert all(check(r) for r in similar["results"])
    assert space[0] not in {r["id"] for r in similar["results"]}
    assert similar["count"] == min(50, len(matching - {space[0]}))

    response = client.post(
        "/recommendations/from-items",
        params=[("n", "50"), ("fields", FIELDS), *params],
        json={"positive": space[:2], "negative": [space[2]]},
    )
    assert response.status_code == 200, response.text
    more = response.json()
    assert all(check(r) for r in more["results"])
    assert not {r["id"] for r in more["results"]} & set(space[:3])
    assert more["count"] == min(50, len(matching - set(space[:3])))

    user = _get(client, "/users/alice/recommendations", [("n", "50"), ("fields", FIELDS), *params])
    assert all(check(r) for r in user["results"])


def test_semantic_space_adventure_finds_space_items_from_faiss(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    body = _get(client, "/recommendations", [("mode", "semantic"), ("q", "space adventure")])
    assert body["backend"] == "faiss"
    assert body["snapshot_version"] >= 1
    top = [r["id"] for r in body["results"][:5]]
    assert set(top) <= catalog.theme_ids("space")
    assert {"id", "external_id", "title", "score"} <= set(body["results"][0])
    assert "year" not in body["results"][0]  # only requested fields


def test_exclude_alone_stays_on_faiss(client: TestClient[Litestar], catalog: Catalog) -> None:
    first = _get(client, "/recommendations", [("mode", "semantic"), ("q", "space adventure")])
    top = first["results"][0]["id"]
    again = _get(
        client,
        "/recommendations",
        [("mode", "semantic"), ("q", "space adventure"), ("exclude", str(top))],
    )
    assert again["backend"] == "faiss"
    assert top not in {r["id"] for r in again["results"]}
    assert again["count"] == 10


def test_title_mode_tolerates_typos(client: TestClient[Litestar], catalog: Catalog) -> None:
    body = _get(client, "/recommendations", [("mode", "title"), ("q", "the shawshenk redemtion")])
    assert body["results"][0]["title"] == "The Shawshank Redemption"
    accents = _get(client, "/recommendations", [("mode", "title"), ("q", "amelie a paris")])
    assert accents["results"][0]["title"] == "Amélie à Paris"


def test_terms_mode_finds_a_phrase(client: TestClient[Litestar]) -> None:
    body = _get(client, "/recommendations", [("mode", "terms"), ("q", '"prison friendship"')])
    assert body["results"]
    assert all(
        r["title"] in {"The Shawshank Redemption", "Amélie à Paris"} for r in body["results"]
    )


def test_hybrid_explain_shows_each_mode(client: TestClient[Litestar]) -> None:
    body = _get(
        client,
        "/recommendations",
        [("mode", "hybrid"), ("q", "the great heist"), ("explain", "true")],
    )
    assert body["backend"] == "faiss+postgres"
    top = body["results"][0]
    assert top["title"] == "The Great Heist"
    modes = top["explain"]["modes"]
    assert {"semantic", "terms", "title"} <= set(modes)
    assert all(m["rank"] >= 1 for m in modes.values())
    w = fusion.HYBRID_WEIGHTS
    first = sum(w[name] / (fusion.HYBRID_K + m["rank"]) for name, m in modes.items() if name in w)
    if fusion.HYBRID_FEEDBACK is None:
        assert top["score"] == pytest.approx(first)
    else:  # terms' hits re-ranked by their score and their cosine to the moved query
        assert 0 <= top["score"] <= 1 and -1 <= modes["feedback"]["score"] <= 1
        assert modes["feedback"]["rank"] <= fusion.HYBRID_FEEDBACK.depth


def test_terms_mode_answers_a_sentence_and_refuses_only_stop_words(
    client: TestClient[Litestar],
) -> None:
    body = _get(
        client,
        "/recommendations",
        [("mode", "terms"), ("q", "two inmates plan their escape from a prison")],
    )
    assert body["results"]
    response = client.get("/recommendations", params={"mode": "terms", "q": "the of -prison"})
    assert response.status_code == 400, response.text
    assert response.json()["extra"]["parameter"] == "q"
    assert "stop word" in response.json()["detail"]
    # The hybrid still answers (semantic and title read any text): terms just sit out.
    body = _get(client, "/recommendations", [("mode", "hybrid"), ("q", "the it")])
    assert body["results"]
    assert all("terms" not in r.get("explain", {}).get("modes", {}) for r in body["results"])


def test_group_by_caps_each_group(client: TestClient[Litestar]) -> None:
    body = _get(
        client,
        "/recommendations",
        [
            ("mode", "semantic"),
            ("q", "story"),
            ("n", "10"),
            ("fields", "kind"),
            ("group_by", "kind"),
            ("group_cap", "2"),
        ],
    )
    kinds = [r["kind"] for r in body["results"]]
    assert len(kinds) == 4 and all(kinds.count(k) <= 2 for k in kinds)


def test_diversity_and_boosts_reorder(client: TestClient[Litestar]) -> None:
    base: Params = [("mode", "semantic"), ("q", "space adventure"), ("n", "8"), ("fields", "year")]
    plain = _get(client, "/recommendations", base)
    fresh = _get(client, "/recommendations", [*base, ("freshness", "1"), ("explain", "true")])
    diverse = _get(client, "/recommendations", [*base, ("diversity", "0.9"), ("explain", "true")])
    assert [r["id"] for r in fresh["results"]] != [r["id"] for r in plain["results"]]
    assert [r["id"] for r in diverse["results"]] != [r["id"] for r in plain["results"]]
    assert any(r["explain"]["redundancy"] > 0 for r in diverse["results"][1:])


def test_similar_unfiltered_uses_the_snapshot(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    item = min(catalog.theme_ids("crime"))
    body = _get(client, f"/items/{item}/similar", [("n", "100")])
    assert body["backend"] == "faiss"
    ids = [r["id"] for r in body["results"]]
    assert item not in ids and len(ids) == len(catalog.rows) - 1
    assert set(ids[:3]) <= catalog.theme_ids("crime")


def test_from_items_reports_missing_ids(client: TestClient[Litestar], catalog: Catalog) -> None:
    space = sorted(catalog.theme_ids("space"))
    response = client.post(
        "/recommendations/from-items",
        json={"positive": [space[0], 999999], "weights": {str(space[0]): 2}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["missing_ids"] == [999999]
    assert body["results"] and space[0] not in {r["id"] for r in body["results"]}


def test_user_recommendations_skip_seen_items(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    body = _get(client, "/users/alice/recommendations", [("n", "50")])
    seen = set(sorted(catalog.theme_ids("space"))[:3]) | {min(catalog.theme_ids("cooking"))}
    assert body["results"] and not {r["id"] for r in body["results"]} & seen


def test_get_item(client: TestClient[Litestar], catalog: Catalog) -> None:
    item_id = catalog.ids["t:1"]
    body = _get(client, f"/items/{item_id}", [])
    assert body["id"] == item_id and body["external_id"] == "t:1"
    assert body["attributes"]["country"] == ["United States"]
