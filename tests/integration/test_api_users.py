"""The hybrid user mode through HTTP and db.recs, on the seeded catalog and the real SQL.

Co-occurrence lists and item stats are written directly (a controlled case instead of the
job's arithmetic): carol likes two space items whose lists both lead to one crime item, and
a few items have user preference, so the cold-start list has a known head.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Connection, Engine

import db.recs as recs
from db.recs import Filters, InvalidInput
from tests.support.api import API_KEY, Catalog, ready_client, seed
from tests.support.databases import engine_for

CAROL = "carol"
DRAMAS = "Dramas"
# A trained model with the fallback's coefficients (read from the database) and intercept
# -1: the same list, every logit exactly 1 lower, so the test can tell which one served.
TRAINED = {"mean": [0.0] * 9, "scale": [1.0] * 9, "intercept": -1.0}
METRICS = {"validation": {"auc": 0.71, "ndcg_at_10": 0.33}}


def _by_title(catalog: Catalog, title: str) -> int:
    return next(i for i, row in catalog.rows.items() if row["title"] == title)


@pytest.fixture(scope="module")
def catalog(api_catalog_url: str) -> Catalog:
    cat = seed(api_catalog_url)
    space, crime = sorted(cat.theme_ids("space")), sorted(cat.theme_ids("crime"))
    shawshank = _by_title(cat, "The Shawshank Redemption")
    kiss = _by_title(cat, "A Kiss in Paris")  # romance, Dramas among its categories
    with psycopg.connect(api_catalog_url) as conn:
        conn.execute(
            "INSERT INTO interactions (user_id, item_id, event, occurred_at) VALUES"
            " (%s, %s, 'like', now() - interval '1 hour'), (%s, %s, 'like', now())",
            (CAROL, space[0], CAROL, space[1]),
        )
        conn.execute(
            "INSERT INTO item_collaborative (item_id, rank, neighbor_id, score) VALUES"
            " (%s, 1, %s, 0.9), (%s, 1, %s, 0.8)",
            (space[0], crime[0], space[1], crime[0]),
        )
        # The same pairs for "also liked" (more-like-these reads item_cooccurrence).
        conn.execute(
            "INSERT INTO item_cooccurrence (item_id, rank, neighbor_id, score, users) VALUES"
            " (%s, 1, %s, 0.9, 6), (%s, 1, %s, 0.8, 5)",
            (space[0], crime[0], space[1], crime[0]),
        )
        # The most preferred item is no drama: a Dramas filter must skip it.
        conn.execute(
            "INSERT INTO item_stats (item_id, users, positive_users, preference, last_at)"
            " VALUES (%s, 9, 9, 40, now()), (%s, 6, 6, 20, now()), (%s, 4, 4, 8, now())",
            (space[5], shawshank, kiss),
        )
    return cat


@pytest.fixture(scope="module")
def client(api_catalog_url: str, catalog: Catalog) -> Iterator[TestClient[Litestar]]:
    with ready_client(api_catalog_url, refresh=60) as c:
        yield c


@pytest.fixture(scope="module")
def engine(api_catalog_url: str, catalog: Catalog) -> Iterator[Engine]:
    with engine_for(api_catalog_url) as eng:
        yield eng


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as c:
        yield c
        c.rollback()


def _get(client: TestClient[Litestar], path: str, params: Any = None) -> dict[str, Any]:
    # The key: explain=true on the user mode shows what the user liked.
    response = client.get(path, params=params, headers={"X-API-Key": API_KEY})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _seen(catalog: Catalog) -> set[int]:
    return set(sorted(catalog.theme_ids("space"))[:2])


# -- GET /users/{user_id}/recommendations ----------------------------------------------------


def test_unknown_user_gets_popular_items_within_the_filters(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    body = _get(
        client,
        "/users/stranger/recommendations",
        {"category": DRAMAS, "fields": "categories", "explain": "true", "n": "5"},
    )
    assert body["mode"] == "user" and body["ranker"] == "fallback"
    results = body["results"]
    assert len(results) == 5
    assert all(DRAMAS in r["categories"] for r in results)
    top = results[0]
    assert top["title"] == "The Shawshank Redemption"  # the most preferred drama
    assert top["explain"]["source"] == "popular"
    assert top["explain"]["reason"] == f"popular in {DRAMAS}"
    assert top["explain"]["because"] == []
    for r in results:  # cold start: only popular and fresh candidates
        assert r["explain"]["source"] in {"popular", "fresh"}
        assert r["explain"]["reason"].startswith(("popular", "new"))
    plain = _get(client, "/users/stranger/recommendations", {"n": "3"})
    assert plain["results"][0]["title"] == "Starship Odyssey"  # unfiltered: the favourite
    assert "explain" not in plain["results"][0]


def test_cooccurrence_reason_names_the_liked_items(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    space, crime = sorted(catalog.theme_ids("space")), sorted(catalog.theme_ids("crime"))
    body = _get(client, f"/users/{CAROL}/recommendations", {"explain": "true", "n": "10"})
    ids = [r["id"] for r in body["results"]]
    assert ids and not set(ids) & _seen(catalog)
    top = body["results"][0]
    assert top["id"] == crime[0]
    explain = top["explain"]
    assert explain["source"] == "cooc"
    titles = {i: catalog.rows[i]["title"] for i in space[:2]}
    assert explain["because"] == [{"id": i, "title": titles[i]} for i in space[:2]]
    assert explain["reason"] == f"liked {titles[space[0]]} and {titles[space[1]]}"
    assert {"relevance", "freshness", "popularity", "redundancy", "final", "modes"} <= set(explain)


def test_the_api_serves_the_sql_list(
    client: TestClient[Litestar], api_catalog_url: str, catalog: Catalog
) -> None:
    body = _get(client, f"/users/{CAROL}/recommendations", {"n": "20"})
    with psycopg.connect(api_catalog_url) as conn:
        rows = conn.execute(
            "SELECT item_id, score FROM rec.for_user_explained(%s, 20)", (CAROL,)
        ).fetchall()
    assert [r["id"] for r in body["results"]] == [r[0] for r in rows]
    assert [r["score"] for r in body["results"]] == pytest.approx([r[1] for r in rows])


def test_reranking_still_applies(client: TestClient[Litestar], catalog: Catalog) -> None:
    plain = _get(client, f"/users/{CAROL}/recommendations", {"n": "8"})
    diverse = _get(
        client, f"/users/{CAROL}/recommendations", {"n": "8", "diversity": "0.9", "explain": "true"}
    )
    assert [r["id"] for r in diverse["results"]] != [r["id"] for r in plain["results"]]
    assert any(r["explain"]["redundancy"] > 0 for r in diverse["results"][1:])
    assert all(r["explain"]["reason"] for r in diverse["results"])
    assert not {r["id"] for r in diverse["results"]} & _seen(catalog)
    capped = _get(
        client,
        f"/users/{CAROL}/recommendations",
        {"n": "6", "fields": "kind", "group_by": "kind", "group_cap": "2"},
    )
    kinds = [r["kind"] for r in capped["results"]]
    assert len(kinds) == 4 and all(kinds.count(k) <= 2 for k in kinds)


def test_other_modes_explain_without_reasons(client: TestClient[Litestar]) -> None:
    body = _get(client, "/recommendations", {"mode": "terms", "q": "heist", "explain": "true"})
    explain = body["results"][0]["explain"]
    assert {"modes", "final"} <= set(explain)
    assert not {"source", "reason", "because"} & set(explain)
    assert "ranker" not in body


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/users/a%00b/recommendations", "user_id"),
        ("/users/" + "u" * 201 + "/recommendations", "user_id"),
    ],
    ids=["nul", "too-long"],
)
def test_bad_user_id_is_a_clear_400(
    client: TestClient[Litestar], path: str, parameter: str
) -> None:
    response = client.get(path)
    assert response.status_code == 400, response.text
    assert parameter in response.json()["detail"]


# -- /status ---------------------------------------------------------------------------------


def test_status_shows_the_ranker_and_the_cooccurrence_job(
    client: TestClient[Litestar], api_catalog_url: str, catalog: Catalog
) -> None:
    status = _get(client, "/status")
    assert status["ranker"] == {"version": "fallback"}
    assert status["cooccurrence"] is None
    before = _get(client, f"/users/{CAROL}/recommendations", {"n": "10"})
    with psycopg.connect(api_catalog_url) as conn:
        row = conn.execute("SELECT coef FROM rec.ranker()").fetchone()
        assert row is not None and len(row[0]) == 9
        trained = {**TRAINED, "coef": [float(c) for c in row[0]]}
        conn.execute(
            "INSERT INTO ranking_models (version, features, params, trained_on, metrics, seed,"
            " active) SELECT 'lr-test1', rec.ranker_features(), %s::jsonb, '{}'::jsonb,"
            " %s::jsonb, 7, true",
            (json.dumps(trained), json.dumps(METRICS)),
        )
        conn.execute(
            "INSERT INTO job_state (job, signature, seconds, details)"
            " VALUES ('cooccurrence', 'sig', 0.5, %s::jsonb)",
            (json.dumps({"lists": 2, "k": 50}),),
        )
    try:
        status = _get(client, "/status")
        assert status["ranker"]["version"] == "lr-test1"
        assert status["ranker"]["metrics"] == METRICS
        assert status["ranker"]["created_at"]
        job = status["cooccurrence"]
        assert job["details"] == {"lists": 2, "k": 50} and job["seconds"] == 0.5
        assert job["ran_at"]
        after = _get(client, f"/users/{CAROL}/recommendations", {"n": "10"})
        assert (before["ranker"], after["ranker"]) == ("fallback", "lr-test1")
        assert [r["id"] for r in after["results"]] == [r["id"] for r in before["results"]]
        # Scores are sigmoid(logit): one lower in logit space, so every one is lower.
        pairs = zip(after["results"], before["results"], strict=True)
        logit = [math.log(a["score"] / (1 - a["score"])) for a, _ in pairs]
        pairs = zip(after["results"], before["results"], strict=True)
        base = [math.log(b["score"] / (1 - b["score"])) for _, b in pairs]
        assert [a - b for a, b in zip(logit, base, strict=True)] == pytest.approx(
            [-1.0] * len(base), abs=0.02
        )
    finally:
        with psycopg.connect(api_catalog_url) as conn:
            conn.execute("DELETE FROM ranking_models WHERE version = 'lr-test1'")
            conn.execute("DELETE FROM job_state WHERE job = 'cooccurrence'")
    assert _get(client, "/status")["ranker"] == {"version": "fallback"}


# -- POST /recommendations/from-items with user_id -------------------------------------------


def test_more_like_these_for_a_user(client: TestClient[Litestar], catalog: Catalog) -> None:
    romance, crime = sorted(catalog.theme_ids("romance")), sorted(catalog.theme_ids("crime"))
    given = [romance[0], romance[2], crime[0]]
    response = client.post(
        "/recommendations/from-items",
        params={"n": "50", "explain": "true"},
        headers={"X-API-Key": API_KEY},
        json={
            "positive": [romance[0], romance[2], 999999],
            "negative": [crime[0]],
            "user_id": CAROL,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "more_like" and body["backend"] == "postgres"
    assert body["ranker"] == "fallback"
    assert body["missing_ids"] == [999999]
    ids = [r["id"] for r in body["results"]]
    assert not set(ids) & (_seen(catalog) | set(given))
    # Every other item is a candidate (popular covers the small catalog).
    assert len(ids) == len(set(ids)) == len(catalog.rows) - len(_seen(catalog)) - len(given)
    # The given likes open a romance interest: romance leads, crime[0] (disliked) is gone.
    assert set(ids[:3]) & catalog.theme_ids("romance")
    reasons = {r["explain"]["reason"] for r in body["results"]}
    assert any(reason.startswith("similar to your interest: Romantic") for reason in reasons)


def test_more_like_these_without_user_id_is_unchanged(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    space = sorted(catalog.theme_ids("space"))
    response = client.post("/recommendations/from-items", json={"positive": space[:2]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["backend"] == "faiss" and "ranker" not in body
    assert not {r["id"] for r in body["results"]} & set(space[:2])


def test_more_like_these_blends_in_what_people_also_liked(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    space, crime = sorted(catalog.theme_ids("space")), sorted(catalog.theme_ids("crime"))
    response = client.post(
        "/recommendations/from-items", params={"explain": "true"}, json={"positive": space[:2]}
    )
    assert response.status_code == 200, response.text
    results = {r["id"]: r for r in response.json()["results"]}
    # crime[0] co-occurs with both inputs: "also liked" brings it in, however far its vector.
    assert "also_liked" in results[crime[0]]["explain"]["modes"]
    assert any("vector" in r["explain"]["modes"] for r in results.values())
    # Items nobody co-liked: the centroid's list alone, as before.
    response = client.post(
        "/recommendations/from-items", params={"explain": "true"}, json={"positive": space[3:5]}
    )
    assert response.status_code == 200, response.text
    modes = {m for r in response.json()["results"] for m in r["explain"]["modes"]}
    assert modes == {"more_like"}


@pytest.mark.parametrize(
    ("payload", "parameter"),
    [
        ({"user_id": "a\x00b"}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "u" * 201}, "user_id"),
    ],
    ids=["nul", "empty", "too-long"],
)
def test_more_like_these_bad_user_input(
    client: TestClient[Litestar], catalog: Catalog, payload: dict[str, Any], parameter: str
) -> None:
    body = {"positive": [min(catalog.rows)], **payload}
    response = client.post("/recommendations/from-items", json=body)
    assert response.status_code == 400, response.text
    assert parameter in response.json()["detail"]


def test_more_like_these_for_a_user_takes_no_weights(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    first = min(catalog.rows)
    body = {"positive": [first], "weights": {str(first): 2.0}, "user_id": CAROL}
    response = client.post("/recommendations/from-items", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["extra"]["parameter"] == "weights"


def test_openapi_schema_builds(client: TestClient[Litestar]) -> None:
    schema = _get(client, "/schema/openapi.json")
    components = schema["components"]["schemas"]
    assert "user_id" in components["FromItems"]["properties"]
    assert {"source", "reason", "because"} <= set(components["Explain"]["properties"])
    assert "ranker" in components["Page"]["properties"]


# -- db.recs wrappers --------------------------------------------------------------------------


def test_db_wrappers(conn: Connection, catalog: Catalog) -> None:
    space, crime = sorted(catalog.theme_ids("space")), sorted(catalog.theme_ids("crime"))
    hits = recs.for_user_explained(conn=conn, user_id=CAROL, k=5, filters=Filters())
    assert hits[0].item_id == crime[0] and hits[0].source == "cooc"
    assert hits[0].because == tuple(space[:2])
    plain = recs.for_user(conn=conn, user_id=CAROL, k=5, filters=Filters())
    assert [h.item_id for h in plain] == [h.item_id for h in hits]
    assert recs.ranker_version(conn=conn) == "fallback"

    drama = recs.popular(conn=conn, k=2, filters=Filters(categories=(DRAMAS,)))
    titles = [catalog.rows[h.item_id]["title"] for h in drama]
    assert titles == ["The Shawshank Redemption", "A Kiss in Paris"]
    assert (
        recs.cooccurring(conn=conn, item_id=space[0], k=5, filters=Filters())[0].item_id
        == (crime[0])
    )
    assert recs.cooccurring(conn=conn, item_id=crime[0], k=5, filters=Filters()) == []
    with pytest.raises(LookupError):
        recs.cooccurring(conn=conn, item_id=999999, k=5, filters=Filters())

    interests = recs.user_interests(conn=conn, user_id=CAROL)
    assert len(interests) == 1 and set(interests[0].items) == set(space[:2])
    assert interests[0].share == pytest.approx(1.0)
    assert recs.user_interests(conn=conn, user_id="stranger") == []


@pytest.mark.parametrize(
    ("call", "key"),
    [
        (lambda c: recs.popular(conn=c, k=0, filters=Filters()), "k"),
        (lambda c: recs.for_user_explained(conn=c, user_id=CAROL, k=0, filters=Filters()), "k"),
        (
            lambda c: recs.cooccurring(
                conn=c,
                item_id=1,
                k=5,
                filters=Filters(attributes={"a": ["x"]}),  # type: ignore[dict-item]
            ),
            "attributes.a",
        ),
        (lambda c: recs.user_interests(conn=c, user_id=CAROL, max_interests=11), "max_interests"),
    ],
    ids=["popular-k", "explained-k", "cooccurring-filter", "interests-max"],
)
def test_db_wrappers_translate_bad_input(conn: Connection, call: Any, key: str) -> None:
    with pytest.raises(InvalidInput) as err:
        call(conn)
    assert err.value.key == key
