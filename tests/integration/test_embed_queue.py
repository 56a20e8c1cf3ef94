"""The work queue derived from the data, on real Postgres: claims, upserts, coverage, status,
the per-model HNSW index and the NOTIFY triggers."""

from __future__ import annotations

import json

import numpy as np
import psycopg
import pytest
from sqlalchemy import Connection, text

from db import embeddings as store
from db import job_runs, vector_index
from db.engine import make_engine
from jobs.embedder import FakeEmbedder

MODEL = "all-MiniLM-L6-v2"


def add_items(conn: Connection, n: int, prefix: str = "q") -> list[int]:
    rows = conn.execute(
        text(
            "INSERT INTO items (external_id, title, description, categories, tags) "
            "SELECT :p || g, 'Title ' || g, 'story number ' || g, ARRAY['Drama'], ARRAY['t' || g] "
            "FROM generate_series(1, :n) g RETURNING id"
        ),
        {"p": prefix, "n": n},
    )
    return [r[0] for r in rows]


def embed_all(conn: Connection, model: store.ModelInfo, batch: int = 100) -> int:
    embedder = FakeEmbedder(dim=model.dim)
    total = 0
    while claims := store.claim_batch(conn, model=model.name, limit=batch):
        vectors = embedder.encode([c.text for c in claims])
        total += store.upsert_vectors(conn, model=model, claims=claims, vectors=vectors)
    return total


def test_claim_returns_the_embedded_text_and_its_hash(conn: Connection) -> None:
    ids = add_items(conn, 3)
    claims = store.claim_batch(conn, model=MODEL, limit=10)
    assert [c.item_id for c in claims] == ids
    row = conn.execute(
        text("SELECT title, description, content_hash FROM items WHERE id = :i"), {"i": ids[0]}
    ).one()
    assert claims[0].text == f"{row.title}\nCategories: Drama\n{row.description}\nTags: t1"
    assert claims[0].content_hash == row.content_hash
    assert conn.execute(text("SELECT md5(:t)"), {"t": claims[0].text}).scalar_one() == (
        row.content_hash
    )


def test_upsert_then_nothing_needed_until_an_item_changes(conn: Connection) -> None:
    ids = add_items(conn, 5)
    model = store.get_model(conn)
    assert model.name == MODEL and model.dim == 384 and model.active
    assert store.coverage(conn, model=MODEL) == store.Coverage(items=5, embedded=0)
    assert embed_all(conn, model, batch=2) == 5
    assert store.claim_batch(conn, model=MODEL, limit=10) == []
    assert store.coverage(conn, model=MODEL).complete
    conn.execute(text("UPDATE items SET popularity = 9"))  # not embedded: nothing to do
    assert store.claim_batch(conn, model=MODEL, limit=10) == []
    conn.execute(text("UPDATE items SET description = 'new plot' WHERE id = :i"), {"i": ids[2]})
    assert [c.item_id for c in store.claim_batch(conn, model=MODEL, limit=10)] == [ids[2]]
    assert store.coverage(conn, model=MODEL).needed == 1
    assert embed_all(conn, model) == 1
    stale = conn.execute(
        text(
            "SELECT count(*) FROM item_embeddings e JOIN items i ON i.id = e.item_id "
            "WHERE e.content_hash <> i.content_hash"
        )
    ).scalar_one()
    assert stale == 0


def test_upsert_refuses_vectors_of_the_wrong_shape(conn: Connection) -> None:
    add_items(conn, 2)
    model = store.get_model(conn)
    claims = store.claim_batch(conn, model=MODEL, limit=10)
    with pytest.raises(store.VectorShapeError, match=r"registered with dim 384 .* 8-d"):
        store.upsert_vectors(conn, model=model, claims=claims, vectors=np.zeros((2, 8)))
    with pytest.raises(store.VectorShapeError, match="1 vectors for 2"):
        store.upsert_vectors(conn, model=model, claims=claims, vectors=np.zeros((1, 384)))


def test_vectors_round_trip_exactly(conn: Connection) -> None:
    add_items(conn, 1)
    model = store.get_model(conn)
    claims = store.claim_batch(conn, model=MODEL, limit=1)
    v = FakeEmbedder(dim=384).encode(["exact"]) * np.float32(0.123456789)
    store.upsert_vectors(conn, model=model, claims=claims, vectors=v)
    stored = conn.execute(text("SELECT embedding::text FROM item_embeddings")).scalar_one()
    back = np.array(json.loads(stored), dtype=np.float32)
    assert np.array_equal(back, v[0])


def test_status_view_counts_per_model(conn: Connection) -> None:
    add_items(conn, 4)
    store.register_model(conn, name="side-8", dim=8, path="fake:8")
    model = store.get_model(conn)
    run = job_runs.start_run(conn, job="embed", model=MODEL)
    claims = store.claim_batch(conn, model=MODEL, limit=3)
    store.upsert_vectors(
        conn, model=model, claims=claims, vectors=FakeEmbedder().encode([c.text for c in claims])
    )
    job_runs.record_batch(conn, run_id=run, items=3, seconds=1.5)
    job_runs.finish_run(conn, run_id=run, status="ok")
    rows = {r.model: r for r in store.embedding_status(conn)}
    active = rows[MODEL]
    assert (active.active, active.items, active.embedded, active.needed) == (True, 4, 3, 1)
    assert active.coverage_pct == 75.0 and active.last_run_rate == 2.0
    assert active.last_run_items == 3 and active.last_run_at is not None
    side = rows["side-8"]
    assert (side.active, side.embedded, side.needed, side.last_run_at) == (False, 0, 4, None)


def test_register_rejects_names_that_cannot_be_index_names(conn: Connection) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        store.register_model(conn, name="bad'; drop table items; --", dim=8, path="fake:8")


def test_model_index_is_partial_and_cast_to_its_dimension(conn: Connection) -> None:
    assert vector_index.hnsw_index_name(MODEL) == "ix_item_embeddings_hnsw_all_minilm_l6_v2"
    assert vector_index.hnsw_index_exists(conn, model=MODEL)
    assert vector_index.index_owner(conn, model=MODEL) == MODEL
    store.register_model(conn, name="Side.v2", dim=8, path="fake:8")
    name = vector_index.create_hnsw_index(conn, model="Side.v2", dim=8)
    assert name == "ix_item_embeddings_hnsw_side_v2"
    definition = conn.execute(
        text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": name}
    ).scalar_one()
    assert "USING hnsw (((embedding)::vector(8)) vector_cosine_ops)" in definition
    assert "WHERE (model = 'Side.v2'::text)" in definition
    # Another name with the same slug must not take over (or drop) that index.
    store.register_model(conn, name="side-v2", dim=8, path="fake:8")
    with pytest.raises(ValueError, match=r"maps to the index of model 'Side\.v2'"):
        vector_index.create_hnsw_index(conn, model="side-v2", dim=8)
    assert not vector_index.drop_hnsw_index(conn, model="side-v2")
    assert vector_index.drop_hnsw_index(conn, model="Side.v2")
    assert not vector_index.hnsw_index_exists(conn, model="Side.v2")
    long_name = "m" * 90
    assert len(vector_index.hnsw_index_name(long_name)) == 63


def _notes(listener: psycopg.Connection, channel: str) -> list[str]:
    return [n.payload for n in listener.notifies(timeout=0.5) if n.channel == channel]


def test_notify_triggers(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    try:
        with psycopg.connect(fresh_db_url, autocommit=True) as listener:
            listener.execute("LISTEN pgrec_items")
            listener.execute("LISTEN pgrec_vectors")
            with engine.begin() as conn:
                add_items(conn, 50)
            # One notification per transaction, however many rows.
            assert _notes(listener, "pgrec_items") == [""]
            with engine.begin() as conn:
                conn.execute(text("UPDATE items SET popularity = 1"))
            assert _notes(listener, "pgrec_items") == []
            with engine.begin() as conn:
                conn.execute(text("UPDATE items SET tags = ARRAY['x'] WHERE id < 5"))
            assert _notes(listener, "pgrec_items") == [""]

            # The active model's vectors: one notification per committing transaction.
            with engine.begin() as conn:
                embed_all(conn, store.get_model(conn), batch=10)
            vectors = [json.loads(p) for p in _notes(listener, "pgrec_vectors")]
            assert len(vectors) == 1 and vectors[0]["model"] == MODEL
            assert vectors[0]["reason"] == "vectors"
            with engine.connect() as conn:
                assert store.vectors_version(conn) == vectors[0]["version"]
            # A model filled side by side is not served yet: no notification.
            with engine.begin() as conn:
                side = store.register_model(conn, name="side-8", dim=8, path="fake:8")
            with engine.begin() as conn:
                embed_all(conn, side)
            assert _notes(listener, "pgrec_vectors") == []
            # Deleting an item cascades to its vector: API snapshots must drop it.
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM items WHERE id IN (SELECT min(id) FROM items)"))
            deleted = [json.loads(p) for p in _notes(listener, "pgrec_vectors")]
            assert [d["model"] for d in deleted] == [MODEL]
            assert deleted[0]["version"] > vectors[0]["version"]
            # Switching models announces the new one.
            with engine.begin() as conn:
                store.activate_model(conn, name="side-8")
            switched = [json.loads(p) for p in _notes(listener, "pgrec_vectors")]
            assert [(s["model"], s["reason"]) for s in switched] == [("side-8", "activated")]
    finally:
        engine.dispose()
