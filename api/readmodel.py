"""The versioned read model on disk: written once per version, memory-mapped by every worker.

A version is a directory of plain files: numpy arrays (`np.load(mmap_mode="r")`), a FAISS
index (exact Flat, or IVF over float16 for large catalogs: api/ann_index.py) read with
`IO_FLAG_MMAP_IFC` (its vectors stay in the page cache, shared by all worker processes
instead of copied into each), and the items' light columns as msgpack
records with an offsets array. A version is built in a temporary directory, fsynced, renamed
into place, and published by atomically replacing the `CURRENT` pointer file; builders of
one database serialise on a file lock, so N workers build it once and map the same files.
Published files are never modified: a worker keeps its mapping across a swap (unlinked
files stay readable while mapped).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import mmap
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import msgspec
import numpy as np

from api.ann_index import MATRIX, IndexOptions, build_index, is_ann, prepare, stored_vectors
from db.read_model import Catalog

CURRENT = "CURRENT"
KEEP_VERSIONS = 3  # the current one and two before it, which workers may still map
_ARRAYS = ("item_ids", "rec_offsets", "vector_ids", "lists", "list_scores", "list_fresh")


# One OpenMP thread per search: requests already run on many threads, and FAISS' default
# pool oversubscribes the cores (measured: 166 req/s with 1 thread, 41 with the default).
# OpenMP keeps this setting per calling thread, so the thread that searches sets it, every
# time (a few ns); set at import too, for the main thread (torch shares it).
def single_threaded_faiss() -> None:
    """Limit FAISS to one OpenMP thread in the calling thread."""
    faiss.omp_set_num_threads(1)


single_threaded_faiss()


def database_key(url: str) -> str:
    """A directory name for one database's read models (the URL, hashed)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Meta:
    version: int
    model: str
    dim: int
    path: str | None
    fingerprint: str
    built_at: float
    build_seconds: float
    list_k: int
    items: int
    vectors: int
    index_kind: str = "flat"  # or "ivf_fp16" (api/ann_index.py)


@dataclass(frozen=True, eq=False)
class ReadModel:
    """One mapped version: ids, records, FAISS index and neighbour lists (all read-only)."""

    meta: Meta
    directory: Path
    item_ids: np.ndarray  # int64, ascending
    rec_offsets: np.ndarray  # int64 (items + 1,)
    records_blob: mmap.mmap | bytes
    vector_ids: np.ndarray  # int64 ascending, FAISS row -> item id
    index: faiss.Index
    matrix: np.ndarray  # (vectors, dim): the Flat index's float32 storage, or matrix.npy (float16)
    lists: np.ndarray  # int64 (items, list_k)
    list_scores: np.ndarray
    list_fresh: np.ndarray
    _decoder: msgspec.msgpack.Decoder[dict[str, Any]] = field(
        default_factory=lambda: msgspec.msgpack.Decoder(dict[str, Any])
    )

    def position(self, item_id: int) -> int:
        """Index of `item_id` in item_ids, or -1."""
        at = int(np.searchsorted(self.item_ids, item_id))
        return at if at < len(self.item_ids) and int(self.item_ids[at]) == item_id else -1

    def vector_row(self, item_id: int) -> int:
        at = int(np.searchsorted(self.vector_ids, item_id))
        return at if at < len(self.vector_ids) and int(self.vector_ids[at]) == item_id else -1

    def record(self, position: int) -> dict[str, Any]:
        start, end = int(self.rec_offsets[position]), int(self.rec_offsets[position + 1])
        return self._decoder.decode(self.records_blob[start:end])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _save(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def _write_files(tmp: Path, catalog: Catalog, options: IndexOptions) -> faiss.Index:
    encoder = msgspec.msgpack.Encoder()
    blobs = [encoder.encode(r) for r in catalog.records]
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs]) if blobs else []
    with (tmp / "records.bin").open("wb") as f:
        f.write(b"".join(blobs) or b"\0")  # mmap refuses an empty file
        f.flush()
        os.fsync(f.fileno())
    arrays = {
        "item_ids": catalog.item_ids,
        "rec_offsets": offsets,
        "vector_ids": catalog.vector_ids,
        "lists": catalog.lists,
        "list_scores": catalog.list_scores,
        "list_fresh": catalog.list_fresh,
    }
    for name, array in arrays.items():
        _save(tmp / f"{name}.npy", np.ascontiguousarray(array))
    single_threaded_faiss()
    index = build_index(catalog.vectors, catalog.dim, options)
    faiss.write_index(index, str(tmp / "index.faiss"))
    with (tmp / "index.faiss").open("rb+") as f:
        os.fsync(f.fileno())
    if is_ann(index):  # IVF keeps vectors by cell: these are by id, for View.vector
        _save(tmp / MATRIX, np.ascontiguousarray(catalog.vectors, dtype=np.float16))
    return index


def write_version(
    root: Path,
    catalog: Catalog,
    *,
    version: int,
    started: float,
    options: IndexOptions | None = None,
) -> Path:
    """Write `catalog` as version `version` under `root` and publish it; returns its directory."""
    final = root / f"v{version:08d}"
    tmp = root / f".tmp-v{version:08d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    index = _write_files(tmp, catalog, options or IndexOptions())
    meta = Meta(
        version=version,
        model=catalog.model,
        dim=catalog.dim,
        path=catalog.path,
        fingerprint=catalog.fingerprint,
        built_at=time.time(),
        build_seconds=time.perf_counter() - started,
        list_k=catalog.list_k,
        items=len(catalog.item_ids),
        vectors=len(catalog.vector_ids),
        index_kind="ivf_fp16" if is_ann(index) else "flat",
    )
    (tmp / "meta.json").write_text(json.dumps(meta.__dict__))
    _fsync_dir(tmp)
    os.replace(tmp, final)
    pointer = root / f".{CURRENT}.{os.getpid()}"
    pointer.write_text(final.name)
    with pointer.open("rb+") as f:
        os.fsync(f.fileno())
    os.replace(pointer, root / CURRENT)
    _fsync_dir(root)
    _prune(root, keep=final.name)
    return final


def _prune(root: Path, *, keep: str) -> None:
    versions = sorted(p for p in root.glob("v*") if p.is_dir())
    for old in versions[:-KEEP_VERSIONS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def current_meta(root: Path) -> Meta | None:
    """The published version's metadata, or None when there is none (or it is unreadable)."""
    try:
        name = (root / CURRENT).read_text().strip()
        return Meta(**json.loads((root / name / "meta.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def next_version(root: Path) -> int:
    numbers = [int(p.name[1:]) for p in root.glob("v*") if p.name[1:].isdigit()]
    return max(numbers, default=0) + 1


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Held while one process checks and builds a version: the others wait, then map it."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def open_version(directory: Path, nprobe: int | None = None) -> ReadModel:
    """Map a published version (nothing is copied into this process); `nprobe` sets how
    many cells an IVF index scans (None: the number it was built with)."""
    meta = Meta(**json.loads((directory / "meta.json").read_text()))
    # Plain ndarray views of the maps (the pages stay file-backed and shared): indexing a
    # np.memmap goes through its Python __getitem__, 2.5x slower per lookup.
    arrays = {
        name: np.load(directory / f"{name}.npy", mmap_mode="r").view(np.ndarray) for name in _ARRAYS
    }
    with (directory / "records.bin").open("rb") as f:
        blob = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    index = faiss.read_index(str(directory / "index.faiss"), faiss.IO_FLAG_MMAP_IFC)
    try:
        index = prepare(index, nprobe)
    except ValueError as err:
        raise ValueError(f"{directory}: {err}") from err
    matrix = stored_vectors(directory, index, meta.dim)
    return ReadModel(
        meta=meta,
        directory=directory,
        records_blob=blob,
        index=index,
        matrix=matrix,
        **arrays,
    )
