"""Query text -> vector with the shared embedder, LRU-cached (popular queries repeat)."""

from __future__ import annotations

import functools
import re

import numpy as np

from jobs.embedder import Embedder

_SPACE = re.compile(r"\s+")
CACHE_SIZE = 4096


def normalise_query(q: str) -> str:
    """The cache key: trimmed, runs of whitespace collapsed (case is kept: models see it)."""
    return _SPACE.sub(" ", q).strip()


class QueryEncoder:
    """Encodes one query at a time; thread-safe (lru_cache is), vectors are read-only."""

    def __init__(self, embedder: Embedder, maxsize: int = CACHE_SIZE) -> None:
        self.embedder = embedder
        self._cached = functools.lru_cache(maxsize=maxsize)(self._encode)

    def _encode(self, text: str) -> np.ndarray:
        vector = np.asarray(self.embedder.encode([text])[0], dtype=np.float32)
        vector.flags.writeable = False
        return vector

    def __call__(self, q: str) -> np.ndarray:
        return self._cached(normalise_query(q))

    def cache_info(self) -> dict[str, int]:
        info = self._cached.cache_info()
        return {"hits": info.hits, "misses": info.misses, "size": info.currsize}
