"""Which engine encodes a registered model: the fastest one whose vectors are that version's.

A registered path names a model version (`embedding_models.path`):

- `package:NAME` or a directory: the sentence-transformers model. Its vectors come from
  torch, or from its fp32 ONNX export once that export measured cosine >= 0.999 to torch on
  a sample (`jobs.onnx_export`): the same version, so either may fill or query its index.
- `int8:<path>`: the int8 quantised ONNX export of that model. Its vectors differ (slightly),
  so it is a version of its own: registered under its own name, filled side by side and
  switched to with `pgrec models activate`, never mixed into another model's index.
- `torch:<path>`: the torch engine only (the reference; same vectors as `<path>`).
- `fake:DIM[:SECONDS]`: the hashed-words test embedder.

`PGREC_ENCODER_ENGINE` chooses for plain paths: `auto` (default: batch jobs use torch under
bf16 autocast where the CPU has native bf16 and its vectors passed the same-version gate,
`jobs.bf16_engine`; otherwise ONNX where a verified export is cached, else torch; batch jobs
export it first), `bf16` (batch jobs: bf16 if available and verified, else fp32 torch;
queries as `auto`), `onnx` (always; export if missing, fail if impossible) or `torch`.
`PGREC_ENCODER_THREADS` overrides how many threads encode (default 2 for batch embedding:
two single-threaded runs side by side; 1 for API queries: the intra-op threads of its run).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from jobs.embedder import (
    DEFAULT_MODEL_PATH,
    Embedder,
    SentenceTransformerEmbedder,
    load_embedder,
    model_directory,
)
from jobs.onnx_engine import (
    BATCH_MAX_BATCH,
    BATCH_THREADS,
    BATCH_TOKEN_BUDGET,
    QUERY_THREADS,
    OnnxEmbedder,
    UnsupportedModel,
)

if TYPE_CHECKING:
    from jobs.onnx_export import Export

log = logging.getLogger(__name__)

Purpose = Literal["batch", "query"]


class EngineUnavailable(ValueError):
    """The engine a path or setting demands cannot be built here."""


def split_path(path: str) -> tuple[str | None, str]:
    """`int8:package:X` -> ("int8", "package:X"); a plain path -> (None, path)."""
    for variant in ("int8", "torch"):
        if path.startswith(variant + ":"):
            return variant, path.removeprefix(variant + ":")
    return None, path


def _label(base: str) -> str:
    return base.removeprefix("package:") if base.startswith("package:") else base.rstrip("/")


def load_engine(
    path: str | None = None,
    name: str | None = None,
    *,
    purpose: Purpose = "batch",
    export: bool | None = None,
    choice: str | None = None,
) -> Embedder:
    """The embedder for a registered path; `export` (default: batch jobs only) may export;
    `choice` overrides PGREC_ENCODER_ENGINE (the bench runs engines side by side)."""
    from db.settings import get_settings
    from jobs.onnx_export import ensure_export, find_export, read_export

    settings = get_settings()
    path = path or settings.model_path or DEFAULT_MODEL_PATH
    name = name or settings.model_name
    if path.startswith("fake:"):
        return load_embedder(path, name)
    variant, base = split_path(path)
    choice = choice or settings.encoder_engine
    if variant == "torch" or (variant is None and choice == "torch"):
        return load_embedder(base, name)
    batch_threads = settings.encoder_threads or BATCH_THREADS
    if variant is None and purpose == "batch" and choice in ("auto", "bf16"):
        bf16 = _bf16_engine(base, name, settings.data_dir, batch_threads)
        if bf16 is not None:
            if export is not False:  # the API's query encoder still wants the ONNX file
                _export_for_queries(base, settings.data_dir)
            return bf16
        if choice == "bf16":  # refused (logged): the fp32 reference serves the version
            return load_embedder(base, name)
    required = variant == "int8" or choice == "onnx"  # no torch fallback for these
    may_export = export if export is not None else (purpose == "batch" or required)
    threads = settings.encoder_threads or (BATCH_THREADS if purpose == "batch" else QUERY_THREADS)
    directory = model_directory(base)
    try:
        cache, layout = find_export(settings.data_dir, directory, _label(base))
        found = read_export(cache, layout)
        wanted = "int8" if variant == "int8" else "fp32"
        if not found.verified(wanted) and may_export:
            found = ensure_export(cache, layout, int8=wanted == "int8")
    except UnsupportedModel as err:
        if required:
            raise EngineUnavailable(f"{path}: {err}") from err
        log.info("no ONNX engine for %s (%s): torch", path, err)
        return load_embedder(base, name)
    except Exception as err:  # an exporter that cannot trace this model: torch still can
        if required:
            raise EngineUnavailable(f"{path}: ONNX export failed: {err}") from err
        log.exception("ONNX export of %s failed: torch", path)
        return load_embedder(base, name)
    if purpose == "batch":  # `threads` single-threaded runs side by side, small batches
        shape = {"threads": 1, "runs": threads, "token_budget": BATCH_TOKEN_BUDGET}
        shape["max_batch"] = BATCH_MAX_BATCH
    else:  # one query: one run, its operators split over `threads`
        shape = {"threads": threads, "runs": 1}
    if variant == "int8":
        if not found.verified("int8"):
            raise EngineUnavailable(f"{path}: no int8 export in {cache} (pgrec models export)")
        return OnnxEmbedder(found.path("int8"), layout, name, engine="onnx-int8", **shape)
    if found.same_version:
        return OnnxEmbedder(found.path("fp32"), layout, name, engine="onnx", **shape)
    if required:
        raise EngineUnavailable(f"{path}: no verified ONNX export in {cache}")
    if found.verified("fp32"):
        log.warning("ONNX export of %s differs from torch %s: torch", path, found.manifest)
    else:
        log.info("no ONNX export of %s yet (pgrec models export): torch", path)
    return load_embedder(base, name)


def _bf16_engine(base: str, name: str, data_dir: Path, runs: int) -> Embedder | None:
    """The bf16 engine of a plain path if this CPU has native bf16 and its gate passed."""
    from jobs.bf16_engine import Bf16Embedder, bf16_supported, read_verdict, verdict
    from jobs.onnx_export import SAME_VERSION_COSINE, cache_directory

    if not bf16_supported():
        log.info("no native bf16 on this CPU: fp32 engine for %s", base)
        return None
    cache = cache_directory(data_dir, model_directory(base), _label(base))
    known = read_verdict(cache)
    if known is not None and known < SAME_VERSION_COSINE:  # refused before: skip loading
        log.warning(
            "bf16 of %s: min cosine %.6f < %s to fp32: fp32", base, known, SAME_VERSION_COSINE
        )
        return None
    reference = load_embedder(base, name)
    if not isinstance(reference, SentenceTransformerEmbedder):
        return None
    candidate = Bf16Embedder(reference.model, name, runs=runs)
    cosine = verdict(cache, reference, candidate)
    if cosine < SAME_VERSION_COSINE:
        log.warning(
            "bf16 of %s: min cosine %.6f < %s to fp32: fp32", base, cosine, SAME_VERSION_COSINE
        )
        return None
    log.info("bf16 engine for %s (min cosine %.6f to fp32)", base, cosine)
    return candidate


def _export_for_queries(base: str, data_dir: Path) -> None:
    """Export the fp32 ONNX file as batch jobs did before bf16 (best effort, once)."""
    from jobs.onnx_export import ensure_export, find_export

    try:
        ensure_export(*find_export(data_dir, model_directory(base), _label(base)))
    except Exception:  # the API falls back to torch and says so; batch jobs need not fail
        log.exception("ONNX export of %s for the API's queries failed", base)


def query_engine(path: str | None, name: str) -> Embedder:
    """The API's query encoder: one thread, exporting only where the setting demands it."""
    return load_engine(path, name, purpose="query")


def export_path(path: str, *, int8: bool = False) -> Export:
    """Export (and verify) the ONNX files of a registered path now: `pgrec models export`."""
    from db.settings import get_settings
    from jobs.onnx_export import ensure_export, find_export

    variant, base = split_path(path)
    if variant == "torch" or base.startswith("fake:"):
        raise EngineUnavailable(f"{path}: nothing to export (torch or fake engine)")
    try:
        cache, layout = find_export(get_settings().data_dir, model_directory(base), _label(base))
    except UnsupportedModel as err:
        raise EngineUnavailable(f"{path}: {err}") from err
    return ensure_export(cache, layout, int8=int8 or variant == "int8")
