"""Exporting a sentence-transformers model to ONNX once, into a cache keyed by its weights.

`<data dir>/onnx/<model>-<hash of the weights>/` holds `model.onnx` (fp32), optionally
`model-int8.onnx` (onnxruntime's dynamic int8 quantisation of the linear layers) and
`export.json`: what was exported, by which torch, and the lowest cosine between each file's
vectors and sentence-transformers' on a fixed sample. Only an fp32 file whose cosine is at
least `SAME_VERSION_COSINE` may stand in for the torch model under the same model version;
the int8 file is always a version of its own (registered as `int8:<path>`). Dynamic int8
quantises activations with one scale per batch, so an int8 vector also moves a little with
its batch mates (cosine ~0.99 between batchings): one more reason it never shares an index.

This is the only module of the ONNX path that imports torch, and only while exporting: the
files are written under temporary names and renamed, so concurrent exporters (two workers
starting at once) each leave a whole file and readers never see a partial one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jobs.onnx_engine import ModelLayout, OnnxEmbedder, model_layout

log = logging.getLogger(__name__)

# fp32 vectors this close to the reference are the same vectors for retrieval (ranks move
# by float noise only); measured 0.9999999 here.
SAME_VERSION_COSINE = 0.999
# The int8 recipe is part of its file's name: another recipe makes other vectors, so it
# must be registered as another version, never swapped in under an existing one.
FP32, INT8 = "model.onnx", "model-int8-pc-matmul.onnx"
MANIFEST = "export.json"
OPSET = 17
# Texts the export is verified on: short, long, truncated, non-ASCII.
SAMPLE = [
    "Space Pirates\nCategories: Sci-Fi, Action\nA crew of outlaws raids cargo ships near Mars.",
    "Baking Battle\nCategories: Reality TV\nAmateur bakers compete for the title of best baker.",
    "A",
    "feel-good romantic comedy set in Paris",
    "Amélie\nCategories: Comédie, Romance\nUne jeune serveuse décide de changer la vie des autres.",
    "documentary about climate change and the oceans " * 4,
    "x " * 600,  # longer than the window: truncated
    "Kids' TV\nCategories: Kids' TV, Anime Series\nA boy and his robot dog save the city.",
]


@dataclass(frozen=True)
class Export:
    """The cache directory of one model's weights and what has been exported into it."""

    directory: Path
    layout: ModelLayout
    manifest: dict[str, Any]

    def path(self, variant: str) -> Path:
        return self.directory / (INT8 if variant == "int8" else FP32)

    def verified(self, variant: str) -> bool:
        """Whether the file exists and its vectors were measured against the reference."""
        cosine = self.manifest.get(f"min_cosine_{variant}")
        return self.path(variant).is_file() and cosine is not None

    @property
    def same_version(self) -> bool:
        """Whether the fp32 file may serve the reference model's version."""
        return self.verified("fp32") and self.manifest["min_cosine_fp32"] >= SAME_VERSION_COSINE


HASHED = ("model.safetensors", "pytorch_model.bin", "tokenizer.json", "modules.json")


def weights_hash(directory: Path) -> str:
    """A digest of the weight files and the tokenizer: new weights get a new cache entry."""
    digest = hashlib.blake2b(digest_size=8)
    for name in HASHED:
        path = directory / name
        if not path.is_file():
            continue
        digest.update(name.encode())
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _remembered_hash(memo: Path, directory: Path) -> str:
    """`weights_hash`, remembered by file sizes and mtimes: reading 90 MB costs an API start
    up to a second on a busy machine, a stat costs nothing."""
    stats = [(n, (directory / n).stat()) for n in HASHED if (directory / n).is_file()]
    key = f"{directory.resolve()}|" + ";".join(
        f"{n}:{st.st_size}:{st.st_mtime_ns}" for n, st in stats
    )
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), str):
        return str(known[key])
    digest = weights_hash(directory)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(memo, json.dumps({**known, key: digest}, indent=1).encode())
    except OSError:  # a read-only data dir: hash again next time
        pass
    return digest


def cache_directory(data_dir: Path, directory: Path, label: str) -> Path:
    """`<data_dir>/onnx/<label>-<weights hash>`; label is the package or directory name."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label) or "model"
    digest = _remembered_hash(data_dir / "onnx" / "weights-hashes.json", directory)
    return data_dir / "onnx" / f"{safe}-{digest}"


def read_export(cache: Path, layout: ModelLayout) -> Export:
    try:
        manifest = json.loads((cache / MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = {}
    return Export(directory=cache, layout=layout, manifest=manifest)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _export_fp32(layout: ModelLayout, target: Path) -> None:
    import torch
    from transformers import AutoModel

    # Eager attention traces to plain MatMul/Softmax ops that onnxruntime fuses itself.
    model = AutoModel.from_pretrained(str(layout.directory), attn_implementation="eager")
    model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            out = self.inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            )
            return out.last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.int64)
    mask = torch.ones((2, 8), dtype=torch.int64)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    axes = {0: "batch", 1: "tokens"}
    # dynamo=False on purpose: the TorchScript exporter handles this BERT with dynamic axes
    # in seconds. It warns that it is the legacy path, and tracing warns too (Deprecation,
    # Tracer warnings: errors under pytest's warnings-as-errors); none of it says anything
    # about the file, which ensure_export checks against torch's own vectors afterwards.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(model),
            (ids, mask),
            str(tmp),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=OPSET,
            dynamo=False,
        )
    os.replace(tmp, target)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    # Per-channel weights, MatMul only (the embeddings table stays fp32): mean cosine 0.993
    # to fp32 on Netflix texts, against 0.958 for onnxruntime's per-tensor default.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs every tensor on the root logger
    try:
        quantize_dynamic(
            str(source),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
    finally:
        root.setLevel(level)
    os.replace(tmp, target)


def _reference_vectors(layout: ModelLayout) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(layout.directory), device="cpu")
    return np.asarray(
        model.encode(SAMPLE, normalize_embeddings=True, show_progress_bar=False),
        dtype=np.float32,
    )


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The lowest row-wise cosine of two sets of unit vectors."""
    return float(np.min(np.sum(a * b, axis=1)))


def ensure_export(cache: Path, layout: ModelLayout, *, int8: bool = False) -> Export:
    """Export (and verify) what is missing in `cache`; cheap when everything is there."""
    current = read_export(cache, layout)
    if current.verified("fp32") and (not int8 or current.verified("int8")):
        return current
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cache.mkdir(parents=True, exist_ok=True)
    manifest = dict(current.manifest)
    if not current.verified("fp32"):
        log.info("exporting %s to ONNX in %s", layout.directory, cache)
        _export_fp32(layout, cache / FP32)
        manifest.pop("min_cosine_fp32", None)
        manifest.pop("min_cosine_int8", None)  # quantised from the old file: redo
        (cache / INT8).unlink(missing_ok=True)
    if int8 and not (cache / INT8).is_file():
        log.info("quantising %s to int8", cache / FP32)
        manifest.pop("min_cosine_int8", None)
        _quantize(cache / FP32, cache / INT8)
    reference = _reference_vectors(layout)
    for variant, name in (("fp32", FP32), ("int8", INT8)):
        if (cache / name).is_file() and f"min_cosine_{variant}" not in manifest:
            engine = OnnxEmbedder(cache / name, layout, "verify", threads=1)
            manifest[f"min_cosine_{variant}"] = min_cosine(engine.encode(SAMPLE), reference)
    import torch

    manifest.update(source=str(layout.directory), torch=torch.__version__, opset=OPSET)
    _atomic_write(cache / MANIFEST, json.dumps(manifest, indent=2).encode())
    log.info("ONNX export in %s: %s", cache, manifest)
    return read_export(cache, layout)


def find_export(data_dir: Path, directory: Path, label: str) -> tuple[Path, ModelLayout]:
    """The cache directory for a model and its layout (raises UnsupportedModel)."""
    layout = model_layout(directory)
    return cache_directory(data_dir, directory, label), layout
