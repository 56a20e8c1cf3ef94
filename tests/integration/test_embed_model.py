"""The real packaged model through the whole job on a slice of the Netflix sample: stored
vectors are the model's, normalised, 384-d, and the model's HNSW index finds them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import Engine, text

from db.engine import make_engine
from jobs.embedder import QueryEncoder, load_embedder
from jobs.worker import Embedders, run_embed
from tests.support.netflix import insert_netflix_sample

pytestmark = pytest.mark.model

N = 24


@pytest.fixture
def engine(fresh_db_url: str) -> Iterator[Engine]:
    eng = make_engine(fresh_db_url)
    insert_netflix_sample(eng, N)
    yield eng
    eng.dispose()


def test_real_model_embeds_and_the_hnsw_index_serves(engine: Engine) -> None:
    embedder = load_embedder()
    stats = run_embed(engine, embedders=Embedders(lambda p, n: embedder), batch_size=16)
    assert stats.written == N and stats.encoded == N
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.embedding::text, pgrec_embed_text(i.title, i.categories, i.tags, "
                "i.description), i.id FROM item_embeddings e JOIN items i ON i.id = e.item_id "
                "ORDER BY i.id"
            )
        ).all()
        stored = np.array([np.fromstring(r[0].strip("[]"), sep=",") for r in rows])
        assert stored.shape == (N, 384)
        assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)
        again = embedder.encode([r[1] for r in rows])
        assert np.min(np.sum(stored * again, axis=1)) > 0.9999

        # A query phrased like an item finds that item through the model's own index.
        query = QueryEncoder(embedder).encode_query(rows[5][1])
        # Few rows: without this the planner sorts them all, which proves nothing.
        conn.execute(text("SET LOCAL enable_sort = off"))
        sql = text(
            "SELECT item_id FROM item_embeddings WHERE model = 'all-MiniLM-L6-v2' "
            "ORDER BY embedding::vector(384) <=> CAST(:q AS vector(384)) LIMIT 3"
        )
        params = {"q": "[" + ",".join(map(str, query.tolist())) + "]"}
        plan = "\n".join(conn.execute(text("EXPLAIN " + str(sql)), params).scalars())
        assert "ix_item_embeddings_hnsw_all_minilm_l6_v2" in plan
        assert conn.execute(sql, params).scalars().first() == rows[5][2]
