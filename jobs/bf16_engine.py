"""The bf16 batch engine: sentence-transformers on torch under bfloat16 autocast, gated.

On a CPU with native bf16 (avx512_bf16 or amx_bf16) torch's bf16 matmuls run about twice
the fp32 rate, and the vectors stay within float noise of fp32 (measured cosine 0.99999
mean, 0.99997 min on 600 Netflix texts). They may serve the SAME model version only after
`verdict` measured min cosine >= `SAME_VERSION_COSINE` between them and the fp32 reference
on the export's fixed sample; the verdict is cached per model weights next to the ONNX
export (`bf16.json`), so a worker measures it once, not per claim. Batch jobs only: the
API's query encoder stays ONNX fp32 (no torch in the API).

Threads: `runs` batches run side by side, each in a single-threaded torch (torch releases
the GIL in its operators), mirroring the ONNX batch engine; tokenizing is serialised (the
Hugging Face tokenizer is not safe across threads). torch's thread count is process-wide:
once this engine has encoded, an fp32 torch engine in the same process runs on one thread
too (a batch process serves one engine per version; the bench resets it for its fp32 passes).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np

from jobs.embedder import Embedder, SentenceTransformerEmbedder, length_batches

log = logging.getLogger(__name__)

VERDICT = "bf16.json"
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def bf16_supported(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bf16 natively (else autocast emulates it: slower than fp32)."""
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return False
    return any(flag in flags for flag in BF16_FLAGS)


class Bf16Embedder(SentenceTransformerEmbedder):
    """The fp32 model's weights, its matmuls in bf16; vectors returned as float32."""

    engine = "torch-bf16"

    def __init__(self, model: Any, name: str, *, runs: int = 2, **kwargs: Any) -> None:
        super().__init__(model, name, **kwargs)
        self.runs = max(1, runs)
        self._tokenize_lock = Lock()
        # One pool for every caller: two claims in flight share `runs` cores, not 2 x runs.
        self._pool = ThreadPoolExecutor(self.runs, thread_name_prefix="bf16")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        import torch

        # One core per run: no hand-off inside an operator (process-wide: a batch process).
        torch.set_num_threads(1)
        with self._tokenize_lock:
            lengths = self.token_lengths(texts)
        batches = list(
            length_batches(lengths, token_budget=self.token_budget, max_batch=self.max_batch)
        )
        results = self._pool.map(lambda b: self._forward([texts[i] for i in b]), batches)
        for batch, vectors in zip(batches, results, strict=True):
            out[batch] = vectors
        return out

    def _forward(self, texts: list[str]) -> np.ndarray:
        import torch

        torch.set_num_threads(1)  # in this run's own thread too (OpenMP's count is per thread)
        with self._tokenize_lock:
            features = self.model.preprocess(texts)
        # autocast is per thread: each run enters it itself.
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            embedded = self.model(features)["sentence_embedding"]
        vectors = embedded.float().numpy()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def read_verdict(cache: Path) -> float | None:
    """The cached min cosine of bf16 to fp32 for these weights, if measured with this torch
    (another torch may run other bf16 kernels: its vectors are measured again)."""
    import torch

    try:
        body = json.loads((cache / VERDICT).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("torch") != torch.__version__:
        return None
    value = body.get("min_cosine_bf16")
    return float(value) if isinstance(value, (int, float)) else None


def measure(reference: Embedder, candidate: Embedder) -> float:
    """Min cosine between the two engines' vectors of the export's verification sample."""
    from jobs.onnx_export import SAMPLE, min_cosine

    return min_cosine(candidate.encode(SAMPLE), reference.encode(SAMPLE))


def verdict(cache: Path, reference: Embedder, candidate: Embedder) -> float:
    """The cached verdict, or measure it now and cache it (atomically, like the export)."""
    known = read_verdict(cache)
    if known is not None:
        return known
    cosine = measure(reference, candidate)
    import torch

    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{VERDICT}.{os.getpid()}"
        body = {"min_cosine_bf16": cosine, "torch": torch.__version__}
        tmp.write_text(json.dumps(body, indent=2))
        os.replace(tmp, cache / VERDICT)
    except OSError:  # a read-only data dir: measure again next start
        log.warning("cannot cache the bf16 verdict in %s", cache)
    return cosine
