"""Every retrieval mode on a real catalog: answers satisfy their filters, inputs behave."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Connection, text

from db import recs
from db.embeddings import active_model
from db.recs import Filters, Hit, InvalidInput
from jobs.embedder import FakeEmbedder
from tests.support.databases import rolled_back
from tests.support.recs_catalog import MODEL, NEIGHBORS_K, matches

EMBED = FakeEmbedder()

FILTERS = [
    Filters(categories=("Science Fiction",)),
    Filters(categories=("Science Fiction", "Comedy"), categories_mode="all"),
    Filters(categories=("Dramas", "Documentaries")),
    Filters(tags=("space", "alien")),
    Filters(kinds=("tv show",)),
    Filters(year_min=1990, year_max=1999),
    Filters(price_min=1.5, price_max=4.25),
    Filters(available=False),
    Filters(attributes={"country": "India"}),
    Filters(attributes={"language": "fr"}),
    Filters(categories=("Drama",), year_min=2000, available=True, exclude_ids=(1, 2, 3)),
]


@pytest.fixture
def rc(catalog_url: str) -> Iterator[Connection]:
    """A connection to the catalog whose transaction is rolled back after the test."""
    with rolled_back(catalog_url) as connection:
        yield connection


def _id(conn: Connection, title: str) -> int:
    sql = text("SELECT id FROM items WHERE title = :t ORDER BY id LIMIT 1")
    return int(conn.execute(sql, {"t": title}).scalar_one())


def _check(
    conn: Connection, hits: list[Hit], f: Filters, k: int, *, by_score: bool = True
) -> dict[int, dict[str, Any]]:
    """Hits are distinct, ordered by score (unless the mode interleaves), at most k, and
    every row satisfies the filters."""
    ids = [h.item_id for h in hits]
    assert len(ids) == len(set(ids)) <= k
    if by_score:
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    rows = recs.fetch_items(conn=conn, ids=ids)
    assert set(rows) == set(ids)
    bad = [(i, rows[i]["title"]) for i in ids if not matches(rows[i], f)]
    assert not bad, f"rows outside {f}: {bad}"
    return rows


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: ",".join(f.to_json()))
def test_every_mode_respects_every_filter(rc: Connection, f: Filters) -> None:
    k = 10
    model = active_model(rc).name
    q = EMBED.encode(["space adventure on a distant planet"])[0]
    anchor = _id(rc, "Avatar")
    modes: dict[str, list[Hit]] = {
        "semantic": recs.semantic(conn=rc, model=model, vector=q, k=k, filters=f),
        "similar": recs.similar_items(conn=rc, item_id=anchor, k=k, filters=f),
        "terms": recs.search_terms(conn=rc, q="love OR war OR family", k=k, filters=f),
        "title": recs.search_title(conn=rc, q="the man", k=k, filters=f),
        "more_like": recs.more_like(
            conn=rc, positive=[anchor], negative=[], weights=None, k=k, filters=f
        ).hits,
        "user": recs.for_user(conn=rc, user_id="u_scifi", k=k, filters=f),
    }
    for mode, hits in modes.items():
        assert hits, f"{mode} found nothing for {f}"
        # The user mode places items by interest share (docs/user_mode.md), not by score.
        _check(rc, hits, f, k, by_score=mode != "user")
    # Vector modes return the true top-k: k results whenever k items match.
    for mode in ("semantic", "similar", "more_like", "user"):
        assert len(modes[mode]) == k, mode


def test_semantic_is_exact_under_selective_filters(rc: Connection) -> None:
    model = active_model(rc).name
    rows = rc.execute(
        text(
            "SELECT e.item_id, e.embedding::text, i.categories FROM item_embeddings e "
            "JOIN items i ON i.id = e.item_id WHERE e.model = :m"
        ),
        {"m": model},
    ).all()
    ids = np.array([r[0] for r in rows])
    x = np.array([[float(v) for v in r[1][1:-1].split(",")] for r in rows], dtype=np.float32)
    for genre in ("Western", "Comedy", None):
        f = Filters(categories=(genre,)) if genre else Filters()
        mask = np.array([genre is None or genre in r[2] for r in rows])
        for query in ("a lone gunman rides into town", "two brothers fall in love"):
            q = EMBED.encode([query])[0]
            hits = recs.semantic(conn=rc, model=model, vector=q, k=10, filters=f)
            sims = x[mask] @ q
            expected = ids[mask][np.argsort(-sims, kind="stable")[:10]]
            got = [h.item_id for h in hits]
            if genre is None:
                # Unfiltered over 7k items is the HNSW path: near-exact (test_recall.py).
                assert len(set(got) & set(expected.tolist())) >= 8
                continue
            # A few thousand matches at most: an exact scan. Bag-of-words vectors tie often,
            # so compare scores: the k best, each the true cosine of its item.
            assert [h.score for h in hits] == pytest.approx(np.sort(sims)[::-1][:10], abs=1e-5)
            truth = dict(zip(ids[mask].tolist(), sims.tolist(), strict=True))
            assert [truth[i] for i in got] == pytest.approx([h.score for h in hits], abs=1e-5)


def test_semantic_checks_dimension_and_model(rc: Connection) -> None:
    with pytest.raises(InvalidInput, match="384") as err:
        recs.semantic(conn=rc, model=MODEL, vector=np.ones(8), k=5, filters=Filters())
    assert err.value.key == "q"
    rc.rollback()
    with pytest.raises(InvalidInput, match="nope") as err:
        recs.semantic(conn=rc, model="nope", vector=np.ones(384), k=5, filters=Filters())
    assert err.value.key == "model"


def test_title_mode_finds_a_misspelled_title_first(rc: Connection) -> None:
    hits = recs.search_title(conn=rc, q="the shawshenk redemtion", k=5, filters=Filters())
    rows = recs.fetch_items(conn=rc, ids=[h.item_id for h in hits])
    assert rows[hits[0].item_id]["title"] == "The Shawshank Redemption"
    for q, title in [("amelie", "Amélie"), ("dark knight", "The Dark Knight")]:
        hits = recs.search_title(conn=rc, q=q, k=5, filters=Filters())
        assert recs.fetch_items(conn=rc, ids=[hits[0].item_id])[hits[0].item_id]["title"] == title


def test_terms_mode_finds_a_phrase_and_honours_negation(rc: Connection) -> None:
    hits = recs.search_terms(conn=rc, q='"space station" -alien', k=20, filters=Filters())
    assert hits
    for row in recs.fetch_items(conn=rc, ids=[h.item_id for h in hits]).values():
        blob = " ".join([row["title"], row["description"], *row["categories"], *row["tags"]])
        assert "space station" in blob.lower()
        assert "alien" not in blob.lower()
    with pytest.raises(InvalidInput, match="stop word"):
        recs.search_terms(conn=rc, q="the of and", k=5, filters=Filters())


def test_similar_items_uses_fresh_neighbour_lists_only(rc: Connection) -> None:
    item = int(rc.execute(text("SELECT min(item_id) FROM item_neighbors")).scalar_one())
    stored = rc.execute(
        text("SELECT neighbor_id, score FROM item_neighbors WHERE item_id = :i ORDER BY rank"),
        {"i": item},
    ).all()
    # Mark the stored list so that it is recognisable in the answer.
    rc.execute(text("UPDATE item_neighbors SET score = -rank WHERE item_id = :i"), {"i": item})

    def similar(k: int, f: Filters | None = None) -> list[Hit]:
        return recs.similar_items(conn=rc, item_id=item, k=k, filters=f or Filters())

    assert similar(10) == [Hit(n, -float(r)) for r, (n, _) in enumerate(stored[:10], start=1)]
    computed = similar(NEIGHBORS_K + 5)  # longer than the stored list: a vector search
    assert item not in {h.item_id for h in computed}
    assert [h.item_id for h in computed[:NEIGHBORS_K]] == [n for n, _ in stored]
    assert similar(10, Filters(available=True))[0].score > 0  # filtered: a vector search
    # The item's text changes: its vector (and so the list) is stale until re-embedded.
    rc.execute(
        text("UPDATE items SET description = description || ' x' WHERE id = :i"), {"i": item}
    )
    assert [h.item_id for h in similar(10)] == [n for n, _ in stored[:10]]
    assert all(h.score > 0 for h in similar(10))


def test_similar_items_unknown_or_unembedded(rc: Connection) -> None:
    with pytest.raises(LookupError):
        recs.similar_items(conn=rc, item_id=10**12, k=5, filters=Filters())
    item = _id(rc, "Avatar")
    rc.execute(text("DELETE FROM item_embeddings WHERE item_id = :i"), {"i": item})
    assert recs.similar_items(conn=rc, item_id=item, k=5, filters=Filters()) == []


def test_more_like_excludes_inputs_and_reports_missing(rc: Connection) -> None:
    pos = [_id(rc, "Alien"), _id(rc, "Aliens")]
    neg = [_id(rc, "Toy Story")]
    found = recs.more_like(
        conn=rc,
        positive=[*pos, 10**12],
        negative=[*neg, 10**12 + 1],
        weights=None,
        k=15,
        filters=Filters(),
    )
    assert found.missing_ids == [10**12, 10**12 + 1]
    assert len(found.hits) == 15
    assert not {h.item_id for h in found.hits} & {*pos, *neg}
    # The negative pushes away: its neighbours rank lower than without it.
    plain = recs.more_like(
        conn=rc, positive=pos, negative=[], weights=None, k=15, filters=Filters()
    )
    assert plain.missing_ids == []
    assert plain.hits != found.hits
    # Only unknown ids: nothing to be similar to, and no error.
    none = recs.more_like(
        conn=rc, positive=[10**12], negative=[], weights=None, k=5, filters=Filters()
    )
    assert none.hits == [] and none.missing_ids == [10**12]


def test_missing_means_no_vector_under_the_active_model(rc: Connection) -> None:
    pending, elsewhere, fine = _id(rc, "Avatar"), _id(rc, "Titanic"), _id(rc, "Alien")
    rc.execute(
        text("DELETE FROM item_embeddings WHERE item_id IN (:a, :b)"),
        {"a": pending, "b": elsewhere},
    )
    rc.execute(text("INSERT INTO embedding_models (name, dim) VALUES ('other', 3)"))
    rc.execute(
        text("INSERT INTO item_embeddings VALUES (:i, 'other', '[1,2,3]', 'x')"), {"i": elsewhere}
    )
    found = recs.more_like(
        conn=rc,
        positive=[pending, fine, elsewhere],
        negative=[],
        weights=None,
        k=3,
        filters=Filters(),
    )
    assert found.missing_ids == [pending, elsewhere]
    assert len(found.hits) == 3


def test_more_like_weights(rc: Connection) -> None:
    a, b = _id(rc, "Alien"), _id(rc, "Toy Story")

    def top(weights: dict[int, float] | None) -> int:
        found = recs.more_like(
            conn=rc, positive=[a, b], negative=[], weights=weights, k=1, filters=Filters()
        )
        return found.hits[0].item_id

    heavy_a, heavy_b = top({a: 50.0, b: 1.0}), top({a: 1.0, b: 50.0})
    assert heavy_a != heavy_b
    nearest_a = recs.similar_items(conn=rc, item_id=a, k=2, filters=Filters(exclude_ids=(b,)))
    assert heavy_a == nearest_a[0].item_id
    for bad, key in [({a: -1.0}, f"weights.{a}"), ({12345678: 1.0}, "weights")]:
        with pytest.raises(InvalidInput) as err, rc.begin_nested():
            recs.more_like(
                conn=rc, positive=[a, b], negative=[], weights=bad, k=5, filters=Filters()
            )
        assert err.value.key == key


def test_for_user_excludes_seen_items_and_knows_nobody_else(rc: Connection) -> None:
    seen = set(
        rc.execute(text("SELECT item_id FROM interactions WHERE user_id = 'u_scifi'")).scalars()
    )
    hits = recs.for_user(conn=rc, user_id="u_scifi", k=20, filters=Filters())
    assert len(hits) == 20 and not {h.item_id for h in hits} & seen
    rows = recs.fetch_items(conn=rc, ids=[h.item_id for h in hits[:5]])
    assert sum("Science Fiction" in r["categories"] for r in rows.values()) >= 3
    # Unknown, or only low ratings: cold start, popular and fresh items (never seen ones).
    nobody = recs.for_user_explained(conn=rc, user_id="nobody", k=5, filters=Filters())
    assert len(nobody) == 5 and {h.source for h in nobody} <= {"popular", "fresh"}
    hated = set(
        rc.execute(text("SELECT item_id FROM interactions WHERE user_id = 'u_hater'")).scalars()
    )
    cold = recs.for_user_explained(conn=rc, user_id="u_hater", k=5, filters=Filters())
    assert len(cold) == 5 and {h.source for h in cold} <= {"popular", "fresh"}
    assert not {h.item_id for h in cold} & hated
    mixed = recs.for_user(conn=rc, user_id="u_mixed", k=5, filters=Filters())
    assert len(mixed) == 5


def test_user_profile_weights_events_and_decay(rc: Connection) -> None:
    weight = rc.execute(
        text(
            "SELECT rec.event_weight('purchase', NULL), rec.event_weight('like', NULL), "
            "rec.event_weight('click', NULL), rec.event_weight('view', NULL), "
            "rec.event_weight('rating', 5), rec.event_weight('rating', 2.5), "
            "rec.event_weight('rating', 0.5)"
        )
    ).one()
    assert list(weight) == pytest.approx([4, 3, 1, 0.5, 3, 0, -2.4])
    # One fresh like outweighs the same like a half-life (90 days) older by exactly 2:1.
    a, b = _id(rc, "Avatar"), _id(rc, "Titanic")
    rc.execute(
        text(
            "INSERT INTO interactions (user_id, item_id, event, occurred_at) VALUES "
            "('u_decay', :a, 'like', now()), ('u_decay', :b, 'like', now() - interval '90 days')"
        ),
        {"a": a, "b": b},
    )
    profile = rc.execute(text("SELECT rec.user_profile('u_decay')::text")).scalar_one()
    sql = text("SELECT embedding::text FROM item_embeddings WHERE item_id = :i")
    va, vb = (_parse(rc.execute(sql, {"i": i}).scalar_one()) for i in (a, b))
    got = _parse(profile)
    assert got == pytest.approx(3 * va + 1.5 * vb, abs=1e-5)


def _parse(vector: str) -> np.ndarray:
    return np.array([float(x) for x in vector[1:-1].split(",")])


@pytest.mark.parametrize(
    ("filters", "key"),
    [
        ({"colour": "red"}, "colour"),
        ({"categories": "Drama"}, "categories"),
        ({"categories": [1]}, "categories"),
        ({"categories_mode": "some"}, "categories_mode"),
        ({"year_min": "1990"}, "year_min"),
        ({"year_max": 1999.5}, "year_max"),
        ({"price_min": "cheap"}, "price_min"),
        ({"available": "yes"}, "available"),
        ({"attributes": ["country"]}, "attributes"),
        ({"attributes": {"country": ["India"]}}, "attributes.country"),
        ({"exclude_ids": [1, "2"]}, "exclude_ids"),
        ({"kinds": "movie"}, "kinds"),
    ],
)
def test_bad_filters_raise_naming_the_key(
    rc: Connection, filters: dict[str, Any], key: str
) -> None:
    calls = {
        "semantic": "rec.semantic(array_fill(0.1, ARRAY[384])::vector, 5, :f)",
        "similar_items": "rec.similar_items(1, 5, :f)",
        "search_terms": "rec.search_terms('war', 5, :f)",
        "search_title": "rec.search_title('war', 5, :f)",
        "more_like": "rec.more_like(ARRAY[1::bigint], '{}', 5, :f)",
        "for_user": "rec.for_user('nobody', 5, :f)",
    }
    for mode, call in calls.items():
        with pytest.raises(InvalidInput) as err, rc.begin_nested():
            recs.calls.call_hits(
                rc,
                text(f"SELECT * FROM {call.replace(':f', 'CAST(:f AS jsonb)')}"),
                {"f": json.dumps(filters)},
            )
        assert err.value.key == key, mode
        assert key.split(".")[-1] in str(err.value), mode


def test_bad_k_is_refused(rc: Connection) -> None:
    for k in (0, -1, 10001):
        with pytest.raises(InvalidInput, match="k") as err, rc.begin_nested():
            recs.search_terms(conn=rc, q="war", k=k, filters=Filters())
        assert err.value.key == "k"


def test_filter_sql_quotes_values(rc: Connection) -> None:
    """Hostile values stay literals: the clause still parses and finds nothing."""
    evil = Filters(categories=("x'); DROP TABLE items; --",), attributes={"a'b": "c\"d'"})
    assert recs.search_terms(conn=rc, q="war", k=5, filters=evil) == []
    assert rc.execute(text("SELECT count(*) FROM items")).scalar_one() > 0


def test_fetch_items_keeps_the_order_asked_for(rc: Connection) -> None:
    a, b = _id(rc, "Avatar"), _id(rc, "Titanic")
    rows = recs.fetch_items(conn=rc, ids=[b, 10**12, a, b])
    assert list(rows) == [b, a]
    assert rows[a]["title"] == "Avatar" and isinstance(rows[a]["price"], float)
    assert "search_tsv" not in rows[a]
