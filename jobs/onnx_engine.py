"""The ONNX engine: a sentence-transformers model exported to ONNX, run by onnxruntime.

Tokenised by `tokenizers` (the Rust tokenizer transformers itself uses), mean-pooled and
L2-normalised in numpy: nothing here imports torch, so an API process that serves queries
with it stays small and starts fast. The export itself lives in `jobs.onnx_export`.

- Whole calls are bucketed by token length (`length_batches`), so a claim of 256 texts
  pads to almost nothing, and duplicate texts are encoded once.
- `threads` is onnxruntime's intra-op thread count and `runs` how many batches run at once
  (each `session.run` releases the GIL). Batch embedding: `BATCH_RUNS` single-threaded runs
  of `BATCH_TOKEN_BUDGET`-token batches, side by side: no hand-off between threads inside
  an operator, and small batches stay in cache; measured 1.12x the items per CPU-second of
  one 2-thread run of 4096-token batches (`python -m bench.embed`). Single queries: 1
  thread, 1 run (one query is too small to split; spare cores serve the next request).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jobs.embedder import DEFAULT_MAX_BATCH, DEFAULT_TOKEN_BUDGET, length_batches

BATCH_THREADS = 2  # the 2-core machine's cores: two single-threaded runs side by side
QUERY_THREADS = 1
# 1024 padded tokens, <= 16 texts: 1.04x the items per CPU-second of 2048/32 (less padding
# in a claim of 256: 1.025x the real tokens against 1.05x; activations stay in L2), 1.14x
# 4096/64 (python -m bench.embed --sweep, one thread, measured under load).
BATCH_TOKEN_BUDGET = 1024
BATCH_MAX_BATCH = 16


class UnsupportedModel(ValueError):
    """A model this engine cannot reproduce (another pooling, no fast tokenizer)."""


@dataclass(frozen=True)
class ModelLayout:
    """What the engine needs to know of a sentence-transformers model directory."""

    directory: Path
    dim: int
    max_length: int
    normalize: bool


def model_layout(directory: Path) -> ModelLayout:
    """Read dim, window and pooling; refuse anything but Transformer + mean pooling."""
    modules_file = directory / "modules.json"
    if not modules_file.is_file() or not (directory / "tokenizer.json").is_file():
        raise UnsupportedModel(f"{directory} has no modules.json or tokenizer.json")
    modules = json.loads(modules_file.read_text())
    kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise UnsupportedModel(f"{directory}: modules {kinds} (need Transformer, Pooling)")
    pooling = json.loads((directory / modules[1]["path"] / "config.json").read_text())
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        raise UnsupportedModel(f"{directory}: pooling {modes} (only mean pooling)")
    bert = directory / "sentence_bert_config.json"
    config = json.loads(bert.read_text()) if bert.is_file() else {}
    max_length = int(config.get("max_seq_length") or 512)
    return ModelLayout(
        directory=directory,
        dim=int(pooling["word_embedding_dimension"]),
        max_length=max_length,
        normalize="Normalize" in kinds,
    )


def load_tokenizer(layout: ModelLayout) -> Any:
    """The fast tokenizer of the model, truncating to its window, never padding."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(layout.directory / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=layout.max_length)
    tokenizer.no_padding()  # batches pad themselves, to their own longest text
    return tokenizer


def session(onnx_path: Path, *, threads: int) -> Any:
    """An onnxruntime CPU session with `threads` intra-op threads and no spinning."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads burn a core waiting for work: on a machine shared with Postgres and
    # other workers that time is better given back.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])


def mean_pool(hidden: np.ndarray, mask: np.ndarray, *, normalize: bool) -> np.ndarray:
    """Masked mean over tokens (what sentence-transformers' Pooling does), then L2."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    if normalize:
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        pooled = pooled / np.clip(norms, 1e-12, None)
    return np.asarray(pooled, dtype=np.float32)


class OnnxEmbedder:
    """The `Embedder` protocol on an exported model; `engine` names the variant served."""

    def __init__(
        self,
        onnx_path: Path,
        layout: ModelLayout,
        name: str,
        *,
        engine: str = "onnx",
        threads: int = QUERY_THREADS,
        runs: int = 1,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self.name = name
        self.dim = layout.dim
        self.engine = engine
        self.onnx_path = onnx_path
        self.layout = layout
        self.threads = threads
        self.runs = runs
        self.token_budget = token_budget
        self.max_batch = max_batch
        self.tokenizer = load_tokenizer(layout)
        # One session serves concurrent runs (onnxruntime allows it): one copy of the weights.
        self.session = session(onnx_path, threads=threads)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.runs, thread_name_prefix="onnx-run")
            return self._pool

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        longest = max(len(x) for x in ids)
        input_ids = np.zeros((len(ids), longest), dtype=np.int64)
        mask = np.zeros((len(ids), longest), dtype=np.int64)
        for row, x in enumerate(ids):
            input_ids[row, : len(x)] = x
            mask[row, : len(x)] = 1
        (hidden,) = self.session.run(
            ["last_hidden_state"], {"input_ids": input_ids, "attention_mask": mask}
        )
        return mean_pool(hidden, mask, normalize=self.layout.normalize)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Duplicates (the same description on two items, a re-sent query) cost one encode.
        position: dict[str, int] = {}
        inverse = np.fromiter(
            (position.setdefault(t, len(position)) for t in texts), dtype=np.int64, count=len(texts)
        )
        unique = list(position)
        ids = [e.ids for e in self.tokenizer.encode_batch(unique)]
        vectors = np.empty((len(unique), self.dim), dtype=np.float32)
        batches = list(
            length_batches(
                [len(x) for x in ids], token_budget=self.token_budget, max_batch=self.max_batch
            )
        )

        def run(batch: list[int]) -> None:
            vectors[batch] = self._run([ids[i] for i in batch])  # disjoint rows per batch

        if self.runs > 1 and len(batches) > 1:
            # list() waits for every batch and re-raises the first failure here.
            list(self._executor().map(run, batches))
        else:
            for batch in batches:
                run(batch)
        return vectors[inverse]
