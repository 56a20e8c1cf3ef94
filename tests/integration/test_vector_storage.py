"""PGREC_VECTOR_STORAGE: a halfvec HNSW index serves rec.semantic, answers as vector storage
does, and switching the storage rebuilds the index.

A catalog of N unit vectors with a low-dimensional latent structure (as sentence embeddings
have) is loaded once; a category selects half of it, independently of the vectors, so that
rec.semantic takes the HNSW path both unfiltered and filtered.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import psycopg
import pytest
from sqlalchemy import Connection, text

from db import recs, vector_index
from db.recs import Filters
from db.settings import get_settings
from tests.support.databases import drop_database, engine_for
from tests.support.recs_catalog import MODEL, clone_template, load_vector_catalog

N = 10_000  # below a few thousand rows the planner sorts them all instead of any index
DIM = 384
QUERIES = 10
K = 10


def _vectors(n: int, rng: np.random.Generator, basis: np.ndarray) -> np.ndarray:
    x = rng.standard_normal((n, basis.shape[0])).astype(np.float32) @ basis
    x += 0.3 * rng.standard_normal((n, DIM)).astype(np.float32)
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


@pytest.fixture(scope="module")
def catalog(server_url: str, template_url: str) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(database URL, vectors in id order, basis); half the items are in category 'half'."""
    url = clone_template(server_url, template_url)
    rng = np.random.default_rng(20261205)
    basis = rng.standard_normal((24, DIM)).astype(np.float32)
    vectors = _vectors(N, rng, basis)
    half = rng.random(N) < 0.5
    try:
        items = ((i + 1, f"s:{i}", f"item {i}", ["half"] if half[i] else []) for i in range(N))
        load_vector_catalog(
            url, "id, external_id, title, categories", items, vectors, work_mem="256MB"
        )
        yield url, vectors, half
    finally:
        drop_database(server_url, url)


def _set_storage(url: str, storage: str) -> list[str]:
    with engine_for(url) as engine:
        return vector_index.sync_storage(engine, storage=storage)


def _top(conn: Connection, q: np.ndarray, filters: Filters) -> list[int]:
    return [
        h.item_id for h in recs.semantic(conn=conn, model=MODEL, vector=q, k=K, filters=filters)
    ]


def test_switching_the_storage_rebuilds_the_index(
    catalog: tuple[str, np.ndarray, np.ndarray],
) -> None:
    url = catalog[0]
    assert _set_storage(url, "halfvec") == [MODEL]
    assert _set_storage(url, "halfvec") == []  # already halfvec: nothing rebuilt
    with engine_for(url) as engine, engine.connect() as conn:
        assert vector_index.index_storage(conn, model=MODEL) == "halfvec"
        stored = conn.execute(
            text("SELECT storage FROM embedding_models WHERE name = :m"), {"m": MODEL}
        )
        assert stored.scalar_one() == "halfvec"
    # A build interrupted earlier left an index under the building name: the switch replaces it.
    building = vector_index.building_name(MODEL)
    with engine_for(url) as engine, engine.begin() as conn:
        conn.execute(text(f"CREATE INDEX {building} ON item_embeddings (item_id)"))
    assert _set_storage(url, "vector") == [MODEL]
    with engine_for(url) as engine, engine.connect() as conn:
        assert vector_index.index_storage(conn, model=MODEL) == "vector"
        names = conn.execute(
            text("SELECT indexname FROM pg_indexes WHERE indexname IN (:a, :b)"),
            {"a": building, "b": vector_index.hnsw_index_name(MODEL)},
        ).scalars()
        assert list(names) == [vector_index.hnsw_index_name(MODEL)]  # swapped in, none left


def test_an_index_built_with_another_ef_construction_is_rebuilt(
    catalog: tuple[str, np.ndarray, np.ndarray],
) -> None:
    """An index from before PGREC_HNSW_EF_CONSTRUCTION (pgvector's 64, as the baseline
    migration made it) is rebuilt with the setting by `pgrec migrate`'s sync, once."""
    url = catalog[0]
    name = vector_index.hnsw_index_name(MODEL)
    wanted = get_settings().hnsw_ef_construction
    # Without the option (as the baseline migration builds it): pgvector's 64, or another
    # value when the setting is 64 itself.
    option = "" if wanted != 64 else "WITH (ef_construction = 48)"
    with engine_for(url) as engine, engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {name}"))
        conn.execute(
            text(
                f"CREATE INDEX {name} ON item_embeddings USING hnsw "
                f"((embedding::vector({DIM})) vector_cosine_ops) {option} WHERE model = '{MODEL}'"
            )
        )
        built = vector_index.index_build(conn, model=MODEL)
        assert built == ("vector", 64 if not option else 48) and built != ("vector", wanted)
    assert _set_storage(url, "vector") == [MODEL]
    assert _set_storage(url, "vector") == []  # built as wanted now: nothing rebuilt
    with engine_for(url) as engine, engine.connect() as conn:
        assert vector_index.index_build(conn, model=MODEL) == ("vector", wanted)


def _plans_of_semantic(url: str, q: np.ndarray, filters: Filters) -> str:
    """The plans of every statement rec.semantic runs (auto_explain's nested statements)."""
    notes: list[str] = []
    with psycopg.connect(url, autocommit=True) as c:
        c.add_notice_handler(lambda d: notes.append(d.message_primary or ""))
        c.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_level = notice"):
            c.execute(f"SET auto_explain.{setting}")
        c.execute(
            "SELECT * FROM rec.semantic(%s::vector, %s, %s::jsonb)",
            (recs.calls.vector_literal(q), K, recs.calls.filters_json(filters)),
        ).fetchall()
    return "\n".join(notes)


@pytest.mark.parametrize("filters", [Filters(), Filters(categories=("half",))], ids=["all", "50%"])
def test_the_halfvec_index_serves_and_answers_like_vector(
    catalog: tuple[str, np.ndarray, np.ndarray], filters: Filters
) -> None:
    url, vectors, half = catalog
    mask = half if filters.categories else np.ones(N, dtype=bool)
    basis = np.random.default_rng(20261205).standard_normal((24, DIM)).astype(np.float32)
    queries = _vectors(QUERIES, np.random.default_rng(7), basis)  # the catalog's basis
    results: dict[str, list[list[int]]] = {}
    for storage in ("vector", "halfvec"):
        _set_storage(url, storage)
        plans = _plans_of_semantic(url, queries[0], filters)
        assert f"Index Scan using {vector_index.hnsw_index_name(MODEL)}" in plans
        assert f"::{storage}(384)" in plans
        with engine_for(url) as engine, engine.connect() as conn:
            results[storage] = [_top(conn, q, filters) for q in queries]
    for storage, tops in results.items():
        recall = []
        for q, got in zip(queries, tops, strict=True):
            assert len(got) == K and all(mask[i - 1] for i in got)
            sims = vectors[mask] @ q
            truth = set((np.flatnonzero(mask)[np.argsort(-sims)[:K]] + 1).tolist())
            recall.append(len(truth & set(got)) / K)
        assert np.mean(recall) >= 0.98, storage
    overlap = [
        len(set(a) & set(b)) / K for a, b in zip(results["vector"], results["halfvec"], strict=True)
    ]
    assert np.mean(overlap) >= 0.98
