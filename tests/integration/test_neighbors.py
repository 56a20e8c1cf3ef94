"""item_neighbors on real Postgres: exact against numpy, incremental equal to full."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from sqlalchemy import Connection, text

from db.vectors import load_current_vectors
from jobs.neighbors import refresh_neighbors
from tests.support.cli import query, query_one
from tests.support.movies import ACTIVE, load_catalog, tmdb_movies

RANDOM = "random-32"  # a second, inactive model: no HNSW index to build, small vectors

Lists = dict[int, list[tuple[int, float]]]


def add_random_items(c: psycopg.Connection, n: int, rng: np.random.Generator) -> list[int]:
    """`n` new items with random vectors of the RANDOM model; returns their ids."""
    ids = [
        row[0]
        for row in c.execute(
            "INSERT INTO items (external_id, title)"
            " SELECT 'r:' || gen_random_uuid(), 'random ' || g"
            " FROM generate_series(1, %s::int) g ORDER BY g RETURNING id",
            (n,),
        ).fetchall()
    ]
    set_vectors(c, ids, rng.standard_normal((n, 32)).astype(np.float32))
    return ids


def set_vectors(c: psycopg.Connection, ids: list[int], vectors: np.ndarray) -> None:
    """Upsert current embeddings of RANDOM for `ids` (what a worker does after encoding)."""
    with c.cursor() as cur:
        cur.executemany(
            "INSERT INTO item_embeddings (item_id, model, embedding, content_hash)"
            " SELECT id, %s, %s, content_hash FROM items WHERE id = %s"
            " ON CONFLICT (item_id, model) DO UPDATE SET embedding = EXCLUDED.embedding,"
            " content_hash = EXCLUDED.content_hash, embedded_at = now()",
            [(RANDOM, v, i) for i, v in zip(ids, vectors, strict=True)],
        )


def stored_lists(url: str, model: str) -> Lists:
    rows = query(
        url,
        "SELECT item_id, neighbor_id, score FROM item_neighbors WHERE model = %s"
        " ORDER BY item_id, rank",
        model,
    )
    lists: Lists = {}
    for item_id, neighbor_id, score in rows:
        lists.setdefault(item_id, []).append((neighbor_id, score))
    return lists


def current_vectors(url: str, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, normalised vectors) of the items whose embedding matches their content_hash."""
    with psycopg.connect(url) as c:
        register_vector(c)
        rows = c.execute(
            "SELECT e.item_id, e.embedding FROM item_embeddings e"
            " JOIN items i ON i.id = e.item_id AND i.content_hash = e.content_hash"
            " WHERE e.model = %s ORDER BY e.item_id",
            (model,),
        ).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    x = np.stack([r[1].to_numpy() for r in rows]).astype(np.float64)
    return ids, x / np.linalg.norm(x, axis=1, keepdims=True)


def assert_exact_top_k(lists: Lists, ids: np.ndarray, x: np.ndarray, k: int) -> None:
    """Each list is a true top-k by brute force, ties at the boundary allowed either way."""
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    at = {int(i): p for p, i in enumerate(ids)}
    assert set(lists) == set(at)
    width = min(k, len(ids) - 1)
    for item, row in lists.items():
        p = at[item]
        truth = np.sort(sims[p])[::-1][:width]
        got_ids = [n for n, _ in row]
        got = np.array([s for _, s in row])
        assert len(row) == width and item not in got_ids and len(set(got_ids)) == width
        np.testing.assert_allclose(got, truth, atol=1e-5)  # scores: the top-k, in order
        np.testing.assert_allclose(got, sims[p, [at[n] for n in got_ids]], atol=1e-5)
        # Everything strictly better than the k-th score is in the list.
        must = {int(ids[j]) for j in np.flatnonzero(sims[p] > truth[-1] + 1e-5)}
        assert must <= set(got_ids)


def assert_same_lists(a: Lists, b: Lists) -> None:
    assert a.keys() == b.keys()
    for item in a:
        assert [n for n, _ in a[item]] == [n for n, _ in b[item]], item
        np.testing.assert_allclose([s for _, s in a[item]], [s for _, s in b[item]], atol=1e-5)


@pytest.fixture
def random_db(fresh_db_url: str) -> Iterator[str]:
    with psycopg.connect(fresh_db_url) as c:
        c.execute("INSERT INTO embedding_models (name, dim) VALUES (%s, 32)", (RANDOM,))
    yield fresh_db_url


def test_real_catalog_equals_brute_force(fresh_db_url: str, shared_data: Path) -> None:
    load_catalog(fresh_db_url, tmdb_movies(shared_data, 300))
    run = refresh_neighbors(url=fresh_db_url)  # the active model, K = 50, first run is full
    assert run.full and run.items == 300 and run.rows == 300 * 50
    ids, x = current_vectors(fresh_db_url, ACTIVE)
    lists = stored_lists(fresh_db_url, ACTIVE)
    assert_exact_top_k(lists, ids, x, 50)
    # Read back as an analyst would: a sequel's nearest neighbour is of its series.
    first = query_one(
        fresh_db_url,
        "SELECT j.title FROM item_neighbors n JOIN items i ON i.id = n.item_id"
        " JOIN items j ON j.id = n.neighbor_id"
        " WHERE i.title = 'Harry Potter and the Half-Blood Prince' AND n.rank = 1",
    )
    state = query_one(
        fresh_db_url,
        "SELECT k, items, mode FROM refresh_state WHERE model = %s AND job = 'neighbors'",
        ACTIVE,
    )
    assert first is not None and first[0].startswith("Harry Potter")
    assert state == (50, 300, "full")
    again = refresh_neighbors(url=fresh_db_url)
    assert not again.full and again.recomputed == 0 and again.rows == 0


def test_incremental_equals_full_and_touches_few_lists(random_db: str) -> None:
    rng = np.random.default_rng(7)
    with psycopg.connect(random_db) as c:
        register_vector(c)
        ids = add_random_items(c, 300, rng)
    first = refresh_neighbors(url=random_db, model=RANDOM, k=10)
    assert first.full and first.rows == 300 * 10

    with psycopg.connect(random_db) as c:
        register_vector(c)
        moved = ids[10:13]
        c.execute("UPDATE items SET description = 'edited' WHERE id = ANY(%s)", (moved,))
        set_vectors(c, moved, rng.standard_normal((3, 32)).astype(np.float32))
        c.execute("DELETE FROM items WHERE id = %s", (ids[20],))  # cascades into lists
        # Content changed, not re-embedded yet: the old vector must stop counting.
        c.execute("UPDATE items SET title = 'retitled' WHERE id = %s", (ids[30],))
        new = add_random_items(c, 2, rng)

    inc = refresh_neighbors(url=random_db, model=RANDOM, k=10)
    assert not inc.full and inc.items == 300 - 2 + 2
    assert 0 < inc.recomputed < 300 // 3
    incremental = stored_lists(random_db, RANDOM)
    assert ids[30] not in incremental and new[0] in incremental
    assert all(n not in (ids[20], ids[30]) for row in incremental.values() for n, _ in row)

    full = refresh_neighbors(url=random_db, model=RANDOM, k=10, full=True)
    assert full.full and full.rows == 0  # nothing to change: the tables were equal
    assert_same_lists(incremental, stored_lists(random_db, RANDOM))
    ids_now, x = current_vectors(random_db, RANDOM)
    assert_exact_top_k(incremental, ids_now, x, 10)

    # The stale item is embedded again: it comes back, and again equals a full run.
    with psycopg.connect(random_db) as c:
        register_vector(c)
        set_vectors(c, [ids[30]], rng.standard_normal((1, 32)).astype(np.float32))
    back = refresh_neighbors(url=random_db, model=RANDOM, k=10)
    assert not back.full and back.recomputed < 300 // 3
    after = stored_lists(random_db, RANDOM)
    assert ids[30] in after
    assert refresh_neighbors(url=random_db, model=RANDOM, k=10, full=True).rows == 0
    assert_same_lists(after, stored_lists(random_db, RANDOM))


def test_catalog_smaller_than_k(random_db: str) -> None:
    empty = refresh_neighbors(url=random_db, model=RANDOM, k=50)
    assert (empty.items, empty.rows) == (0, 0)
    rng = np.random.default_rng(3)
    with psycopg.connect(random_db) as c:
        register_vector(c)
        ids = add_random_items(c, 5, rng)
    refresh_neighbors(url=random_db, model=RANDOM, k=50)
    assert {len(row) for row in stored_lists(random_db, RANDOM).values()} == {4}
    with psycopg.connect(random_db) as c:
        register_vector(c)
        add_random_items(c, 1, rng)
        c.execute("DELETE FROM items WHERE id = %s", (ids[0],))
        add_random_items(c, 1, rng)
    refresh_neighbors(url=random_db, model=RANDOM, k=50)  # every list changes: a full run
    lists = stored_lists(random_db, RANDOM)
    assert {len(row) for row in lists.values()} == {5}
    ids_now, x = current_vectors(random_db, RANDOM)
    assert_exact_top_k(lists, ids_now, x, 50)


def test_changing_k_recomputes_everything(random_db: str) -> None:
    with psycopg.connect(random_db) as c:
        register_vector(c)
        add_random_items(c, 40, np.random.default_rng(1))
    refresh_neighbors(url=random_db, model=RANDOM, k=5)
    run = refresh_neighbors(url=random_db, model=RANDOM, k=3)
    assert run.full
    assert {len(row) for row in stored_lists(random_db, RANDOM).values()} == {3}


def test_load_vectors_skips_stale_hashes_and_normalises(conn: Connection) -> None:
    ids = (
        conn.execute(
            text(
                "INSERT INTO items (external_id, title) VALUES ('s:1', 'one'), ('s:2', 'two'),"
                " ('s:3', 'three') RETURNING id"
            )
        )
        .scalars()
        .all()
    )
    conn.execute(
        text(
            "INSERT INTO item_embeddings (item_id, model, embedding, content_hash)"
            " SELECT id, :m, CAST('[3, 4' || repeat(', 0', 382) || ']' AS vector), content_hash"
            " FROM items WHERE id = ANY(:ids)"
        ),
        {"m": ACTIVE, "ids": list(ids)},
    )
    conn.execute(text("UPDATE items SET title = 'changed' WHERE id = :i"), {"i": ids[1]})
    vectors = load_current_vectors(conn=conn, model=ACTIVE)
    assert vectors.ids.tolist() == [ids[0], ids[2]]
    assert vectors.matrix.shape == (2, 384)
    np.testing.assert_allclose(vectors.matrix[:, :2], [[0.6, 0.8], [0.6, 0.8]], rtol=1e-6)
    assert vectors.embedded_at.dtype == np.dtype("datetime64[us]")


def test_cli_refreshes_neighbors_and_clusters(
    random_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from db.settings import get_settings
    from pgrec.cli import main

    with psycopg.connect(random_db) as c:
        register_vector(c)
        add_random_items(c, 30, np.random.default_rng(5))
    monkeypatch.setenv("DATABASE_URL", random_db)
    get_settings.cache_clear()
    try:
        args = ["neighbors", "refresh", "--model", RANDOM, "--k", "5", "--threads", "1"]
        assert main(args) == 0
        assert main([*args, "--full"]) == 0
        assert main(["clusters", "refresh", "--model", RANDOM, "--n-clusters", "3"]) == 0
        assert main(["neighbors", "refresh", "--k", "0"]) == 2
        assert main(["clusters", "refresh", "--model", "no-such-model"]) == 2
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr()
    assert "neighbors (random-32, full): 30 items" in out.out
    assert "0 rows written" in out.out.splitlines()[1]
    assert "30 items, 3 clusters" in out.out
    assert "unknown embedding model 'no-such-model'" in out.err
