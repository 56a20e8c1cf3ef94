"""Data functions of the stored vectors: a model's current vectors for jobs, snapshots for serving.

Keyword-only functions over an SQLAlchemy `Connection`, running in the caller's transaction.
Two loads, two meanings: `load_current_vectors` (jobs) keeps only vectors computed from the
item's current text, normalised, via binary COPY; `load_serving_vectors` (API snapshot)
takes every vector of the model's dimension as stored, with the signature of what it read.
Serving vectors travel as pgvector's binary form (`vector_send`) decoded with numpy in one
pass: loading 100k vectors costs a single query, no per-row parsing of text literals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from sqlalchemy import Connection, text

from db.embeddings import model_dim
from db.pgcopy import PG_EPOCH, copy_out, copy_rows

# The embedding worker NOTIFYs this channel on commits that change the active model's vectors.
VECTORS_CHANNEL = "pgrec_vectors"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# An embedding counts only while it was computed from the item's current text.
CURRENT_VECTORS = (
    "SELECT e.item_id, e.embedded_at, e.embedding FROM item_embeddings e"
    " JOIN items i ON i.id = e.item_id AND i.content_hash = e.content_hash"
    " WHERE e.model = %s ORDER BY e.item_id"
)


@dataclass(frozen=True)
class Vectors:
    """A model's current vectors, sorted by item id; rows are L2-normalised (IP = cosine)."""

    ids: np.ndarray  # int64 (n,)
    matrix: np.ndarray  # float32 (n, dim)
    embedded_at: np.ndarray  # datetime64[us] (n,), UTC

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class VectorSignature:
    """Cheap fingerprint of a model's vectors: any insert, delete or re-embed changes it."""

    model: str
    count: int
    max_embedded_at: dt.datetime | None
    # Sum of embedded_at in epoch microseconds: moves even when a re-embed commits a
    # timestamp older than the current maximum (transactions that started earlier).
    micros_sum: int


@dataclass(frozen=True)
class VectorSet:
    model: str
    ids: np.ndarray  # int64, ascending
    vectors: np.ndarray  # float32 (len(ids), dim), as stored (the worker stores them normalised)
    signature: VectorSignature


def load_current_vectors(*, conn: Connection, model: str) -> Vectors:
    """Current vectors of `model` (stale-hash embeddings left out), normalised, by item id."""
    dim = model_dim(conn=conn, model=model)
    query = f"COPY ({CURRENT_VECTORS}) TO STDOUT (FORMAT binary)"
    # Each field is preceded by its byte length; a vector is (dim int16, unused int16, floats).
    layout = [("nfields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("at_len", ">i4")]
    layout += [("at", ">i8"), ("vec_len", ">i4"), ("dim", ">i2"), ("unused", ">i2")]
    rows = copy_rows(copy_out(conn, query, (model,)), np.dtype([*layout, ("v", ">f4", (dim,))]))
    if len(rows) and not np.all(rows["dim"] == dim):
        raise ValueError(f"vectors of model {model!r} do not all have its dimension {dim}")
    matrix = np.ascontiguousarray(rows["v"], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms > 0, norms, 1.0)
    return Vectors(
        ids=rows["id"].astype(np.int64),
        matrix=matrix,
        embedded_at=PG_EPOCH + rows["at"].astype(np.int64).astype("timedelta64[us]"),
    )


def _decode(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    """pgvector binary vectors (uint16 dim, uint16 unused, dim big-endian float32) -> matrix."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    width = 4 + 4 * dim
    raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), width)
    return raw[:, 4:].copy().view(">f4").astype(np.float32)


def _micros(stamp: dt.datetime) -> int:
    return (stamp - _EPOCH) // dt.timedelta(microseconds=1)


def vector_signature(*, conn: Connection, model: str, dim: int) -> VectorSignature:
    """count, max(embedded_at) and the embedded_at checksum of `model`'s vectors."""
    row = conn.execute(
        text(
            "SELECT count(*) AS n, max(embedded_at) AS latest,"
            " coalesce(sum((extract(epoch FROM embedded_at) * 1000000)::bigint), 0) AS micros"
            " FROM item_embeddings WHERE model = :model AND vector_dims(embedding) = :dim"
        ),
        {"model": model, "dim": dim},
    ).one()
    return VectorSignature(model, int(row.n), row.latest, int(row.micros))


def load_serving_vectors(*, conn: Connection, model: str, dim: int) -> VectorSet:
    """Every vector of `model` (of its dimension) with the signature of exactly what was read."""
    rows = conn.execute(
        text(
            "SELECT item_id, vector_send(embedding) AS v, embedded_at FROM item_embeddings"
            " WHERE model = :model AND vector_dims(embedding) = :dim ORDER BY item_id"
        ),
        {"model": model, "dim": dim},
    ).all()
    ids = np.fromiter((r.item_id for r in rows), dtype=np.int64, count=len(rows))
    vectors = _decode([bytes(r.v) for r in rows], dim)
    stamps = [r.embedded_at for r in rows]
    signature = VectorSignature(
        model=model,
        count=len(rows),
        max_embedded_at=max(stamps) if stamps else None,
        micros_sum=sum(_micros(s) for s in stamps),
    )
    return VectorSet(model=model, ids=ids, vectors=vectors, signature=signature)


def item_vectors(
    *, conn: Connection, model: str, dim: int, ids: Sequence[int]
) -> dict[int, np.ndarray]:
    """Vectors of some items under `model`; items without one are left out."""
    if not ids:
        return {}
    rows = conn.execute(
        text(
            "SELECT item_id, vector_send(embedding) AS v FROM item_embeddings"
            " WHERE model = :model AND item_id = ANY(:ids) AND vector_dims(embedding) = :dim"
        ),
        {"model": model, "ids": list(ids), "dim": dim},
    ).all()
    matrix = _decode([bytes(r.v) for r in rows], dim)
    return {int(r.item_id): matrix[i] for i, r in enumerate(rows)}


async def open_listener(
    *, url: str, channel: str = VECTORS_CHANNEL
) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection LISTENing on `channel`; read it with `.notifies()`."""
    aconn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        await aconn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    except BaseException:
        await aconn.close()
        raise
    return aconn
