"""Data functions the API needs beyond `db.recs`: vector snapshots, item writes, status.

Keyword-only functions over an SQLAlchemy `Connection`, running in the caller's transaction,
so that api/ never holds SQL. Vectors travel as pgvector's binary form (`vector_send`) and
are decoded with numpy in one pass: loading 100k vectors costs a single query, no per-row
parsing of text literals.
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

# The embedding worker NOTIFYs this channel on commits that change the active model's vectors.
VECTORS_CHANNEL = "pgrec_vectors"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class ActiveModel:
    name: str
    dim: int
    path: str | None


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


@dataclass(frozen=True)
class InteractionRow:
    user_id: str
    item_id: int
    event: str
    value: float | None
    occurred_at: dt.datetime | None
    request_id: str | None = None  # the impression this event answers (X-Request-ID)


def _decode(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    """pgvector binary vectors (uint16 dim, uint16 unused, dim big-endian float32) -> matrix."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    width = 4 + 4 * dim
    raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), width)
    return raw[:, 4:].copy().view(">f4").astype(np.float32)


def active_model_info(*, conn: Connection) -> ActiveModel:
    """The active embedding model with the path its embedder loads from."""
    row = conn.execute(
        text("SELECT name, dim, path FROM embedding_models WHERE active")
    ).one_or_none()
    if row is None:
        raise LookupError("no active embedding model")
    return ActiveModel(name=row.name, dim=int(row.dim), path=row.path)


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


def load_vectors(*, conn: Connection, model: str, dim: int) -> VectorSet:
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


def existing_item_ids(*, conn: Connection, ids: Sequence[int]) -> set[int]:
    """The subset of `ids` that are items."""
    if not ids:
        return set()
    rows = conn.execute(
        text("SELECT id FROM items WHERE id = ANY(:ids)"), {"ids": list(ids)}
    ).scalars()
    return {int(i) for i in rows}


def item_ids_by_external(*, conn: Connection, external_ids: Sequence[str]) -> dict[str, int]:
    """items.id of each known external_id."""
    if not external_ids:
        return {}
    rows = conn.execute(
        text("SELECT external_id, id FROM items WHERE external_id = ANY(:ext)"),
        {"ext": list(external_ids)},
    ).all()
    return {r.external_id: int(r.id) for r in rows}


def neighbor_list_depth(*, conn: Connection, model: str) -> int:
    """K of the precomputed neighbour lists of `model` (0 when there are none)."""
    exists = conn.execute(text("SELECT to_regclass('refresh_state') IS NOT NULL")).scalar_one()
    if not exists:
        return 0
    k = conn.execute(
        text("SELECT k FROM refresh_state WHERE model = :model AND job = 'neighbors'"),
        {"model": model},
    ).scalar_one_or_none()
    return int(k or 0)


def delete_item(*, conn: Connection, item_id: int) -> bool:
    """Delete an item (its vectors and interactions cascade); False when there was none."""
    gone = conn.execute(
        text("DELETE FROM items WHERE id = :id RETURNING id"), {"id": item_id}
    ).scalar_one_or_none()
    return gone is not None


def insert_interactions(*, conn: Connection, rows: Sequence[InteractionRow]) -> int:
    """Insert interactions (known items only; repeats are skipped); returns how many were new."""
    if not rows:
        return 0
    result = conn.execute(
        text(
            "INSERT INTO interactions (user_id, item_id, event, value, occurred_at, request_id)"
            " SELECT t.user_id, t.item_id, t.event, t.value, coalesce(t.occurred_at, now()),"
            " t.request_id"
            " FROM unnest(CAST(:users AS text[]), CAST(:items AS bigint[]),"
            " CAST(:events AS text[]), CAST(:vals AS real[]), CAST(:times AS timestamptz[]),"
            " CAST(:requests AS uuid[]))"
            " AS t(user_id, item_id, event, value, occurred_at, request_id)"
            " JOIN items i ON i.id = t.item_id"
            " ON CONFLICT DO NOTHING"
        ),
        {
            "users": [r.user_id for r in rows],
            "items": [r.item_id for r in rows],
            "events": [r.event for r in rows],
            "vals": [r.value for r in rows],
            "times": [r.occurred_at for r in rows],
            "requests": [r.request_id for r in rows],
        },
    )
    return int(result.rowcount or 0)


def catalog_counts(*, conn: Connection) -> dict[str, int]:
    """Row counts for /status: items, available items, interactions, users."""
    row = conn.execute(
        text(
            "SELECT (SELECT count(*) FROM items) AS items,"
            " (SELECT count(*) FROM items WHERE available) AS available_items,"
            " (SELECT count(*) FROM interactions) AS interactions,"
            " (SELECT count(DISTINCT user_id) FROM interactions) AS users"
        )
    ).one()
    return {k: int(v) for k, v in row._mapping.items()}


def model_stats(*, conn: Connection) -> list[dict[str, Any]]:
    """Each registered embedding model with its number of vectors."""
    rows = conn.execute(
        text(
            "SELECT m.name, m.dim, m.path, m.active, count(e.item_id) AS vectors"
            " FROM embedding_models m LEFT JOIN item_embeddings e ON e.model = m.name"
            " GROUP BY m.name, m.dim, m.path, m.active ORDER BY m.active DESC, m.name"
        )
    ).all()
    return [dict(r._mapping) for r in rows]


def pending_embeddings(*, conn: Connection, model: str) -> int:
    """Items whose vector under `model` is missing or older than their content."""
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM items i LEFT JOIN item_embeddings e"
                " ON e.item_id = i.id AND e.model = :model"
                " WHERE e.item_id IS NULL OR e.content_hash <> i.content_hash"
            ),
            {"model": model},
        ).scalar_one()
    )


def ranker_status(*, conn: Connection) -> dict[str, Any]:
    """The scoring stage the user mode uses: the active model's version, creation time and
    validation metrics, or just version 'fallback' when none is trained (or its features
    are not the current ones, which rec.ranker() then ignores)."""
    row = conn.execute(
        text(
            "SELECT r.version, m.created_at, m.metrics FROM rec.ranker() r"
            " LEFT JOIN ranking_models m ON m.version = r.version"
        )
    ).one()
    if row.created_at is None:
        return {"version": row.version}
    return {"version": row.version, "created_at": row.created_at, "metrics": row.metrics}


def job_state(*, conn: Connection, job: str) -> dict[str, Any] | None:
    """When an interaction job ('cooccurrence', 'ranker') last ran and what it reported."""
    row = conn.execute(
        text("SELECT ran_at, seconds, details FROM job_state WHERE job = :job"), {"job": job}
    ).one_or_none()
    return None if row is None else dict(row._mapping)


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
