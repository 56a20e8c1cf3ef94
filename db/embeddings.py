"""Data functions of the embedding models and their vectors' work queue and coverage.

The queue is derived from the data: an item needs a vector for model M while item_embeddings
has no row (item, M) carrying the item's current content_hash. Every function runs in the
caller's transaction on an SQLAlchemy `Connection`; the worker commits once per batch.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from db.rows import dict_rows

# Names end up in index names and SQL literals (db/vector_index.py): keep them plain.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class ModelNotFound(LookupError):
    """No embedding model is registered under that name."""


class VectorShapeError(ValueError):
    """Vectors handed to upsert_vectors do not fit the model or the claimed batch."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    dim: int
    path: str | None
    active: bool


@dataclass(frozen=True)
class Claim:
    """An item locked for embedding, with the text and hash of the same row version."""

    item_id: int
    text: str
    content_hash: str


@dataclass(frozen=True)
class Coverage:
    items: int
    embedded: int

    @property
    def needed(self) -> int:
        return self.items - self.embedded

    @property
    def complete(self) -> bool:
        return self.embedded >= self.items


@dataclass(frozen=True)
class StatusRow:
    model: str
    dim: int
    active: bool
    items: int
    embedded: int
    needed: int
    coverage_pct: float
    last_run_at: dt.datetime | None
    last_run_items: int | None
    last_run_rate: float | None


def _model(row: Any) -> ModelInfo:
    return ModelInfo(name=str(row[0]), dim=int(row[1]), path=row[2], active=bool(row[3]))


def find_active_model(conn: Connection) -> ModelInfo | None:
    """The active embedding model, None when none is: the one active-model lookup."""
    row = conn.execute(
        text("SELECT name, dim, path, active FROM embedding_models WHERE active")
    ).first()
    return None if row is None else _model(row)


def active_model(conn: Connection) -> ModelInfo:
    """The active embedding model; ModelNotFound (a LookupError) when none is."""
    model = find_active_model(conn)
    if model is None:
        raise ModelNotFound("no embedding model is active")
    return model


def get_model(conn: Connection, *, name: str | None = None) -> ModelInfo:
    """The model registered as `name`, or the active model when name is None."""
    if name is None:
        return active_model(conn)
    row = conn.execute(
        text("SELECT name, dim, path, active FROM embedding_models WHERE name = :n"),
        {"n": name},
    ).first()
    if row is None:
        raise ModelNotFound(f"no embedding model named {name!r} (see pgrec models list)")
    return _model(row)


def model_dim(*, conn: Connection, model: str) -> int:
    """The registered dimension of `model`; LookupError when it is not registered."""
    dim = conn.execute(
        text("SELECT dim FROM embedding_models WHERE name = :m"), {"m": model}
    ).scalar_one_or_none()
    if dim is None:
        raise LookupError(f"unknown embedding model {model!r}")
    return int(dim)


def list_models(conn: Connection) -> list[ModelInfo]:
    """Every registered model, the active one first."""
    rows = conn.execute(
        text("SELECT name, dim, path, active FROM embedding_models ORDER BY active DESC, name")
    )
    return [_model(r) for r in rows]


def register_model(conn: Connection, *, name: str, dim: int, path: str) -> ModelInfo:
    """Add an inactive model; its vectors are filled side by side with the active one's."""
    if not MODEL_NAME.fullmatch(name):
        raise ValueError(f"model name {name!r}: use letters, digits, '.', '_', '-' (<= 100)")
    conn.execute(
        text("INSERT INTO embedding_models (name, dim, path, active) VALUES (:n, :d, :p, false)"),
        {"n": name, "d": dim, "p": path},
    )
    return ModelInfo(name=name, dim=dim, path=path, active=False)


class IncompleteCoverage(RuntimeError):
    """Activation refused: some items have no current vector under the model."""

    def __init__(self, model: str, cov: Coverage) -> None:
        super().__init__(
            f"model {model!r} covers {cov.embedded} of {cov.items} items ({cov.needed} need "
            f"embedding): run `pgrec embed --model {model}` first, or pass --force"
        )
        self.coverage = cov


def activate_model(conn: Connection, *, name: str, force: bool = False) -> Coverage:
    """Make `name` the active model in the caller's transaction; refuse incomplete coverage.

    Items are share-locked first, so no item can change between the coverage count and the
    commit: the model that becomes active covers every item at that instant.
    """
    model = get_model(conn, name=name)
    conn.execute(text("LOCK TABLE items IN SHARE MODE"))
    cov = coverage(conn, model=name)
    if not cov.complete and not force:
        raise IncompleteCoverage(model.name, cov)
    if not model.active:
        # Two statements, one transaction: a deferred trigger checks "exactly one" at commit.
        conn.execute(text("UPDATE embedding_models SET active = false WHERE active"))
        conn.execute(text("UPDATE embedding_models SET active = true WHERE name = :n"), {"n": name})
    return cov


def delete_model(conn: Connection, *, name: str) -> int:
    """Unregister an inactive model and delete its vectors; returns how many were deleted."""
    model = get_model(conn, name=name)
    if model.active:
        raise ValueError(f"model {name!r} is active: activate another model before dropping it")
    deleted = conn.execute(
        text("DELETE FROM item_embeddings WHERE model = :n"), {"n": name}
    ).rowcount
    conn.execute(text("DELETE FROM embedding_models WHERE name = :n"), {"n": name})
    return int(deleted)


CLAIM_SQL = text(
    """
    SELECT i.id, pgrec_embed_text(i.title, i.categories, i.tags, i.description), i.content_hash
    FROM items i
    LEFT JOIN item_embeddings e ON e.item_id = i.id AND e.model = :model
    WHERE e.content_hash IS DISTINCT FROM i.content_hash
    ORDER BY i.id
    LIMIT :limit
    FOR UPDATE OF i SKIP LOCKED
    """
)

# Run as a second statement, hence with a snapshot taken after the row locks were granted.
ALREADY_DONE_SQL = text(
    """
    SELECT e.item_id
    FROM item_embeddings e
    JOIN unnest(CAST(:ids AS bigint[]), CAST(:hashes AS text[])) AS c(item_id, content_hash)
      ON c.item_id = e.item_id AND c.content_hash = e.content_hash
    WHERE e.model = :model
    """
)


def claim_batch(conn: Connection, *, model: str, limit: int) -> list[Claim]:
    """Lock up to `limit` items that need a vector for `model`, skipping items others hold.

    The locks last until the caller's transaction ends: meanwhile the item cannot change or
    be deleted, and no other worker claims it. If the process dies, the transaction aborts
    and the items are simply still needed.
    """
    for _ in range(10):
        rows = conn.execute(CLAIM_SQL, {"model": model, "limit": limit}).all()
        if not rows:
            return []
        claims = [Claim(item_id=r[0], text=r[1], content_hash=r[2]) for r in rows]
        # The claim's snapshot predates its locks: another worker may have committed a
        # vector for one of these items and released it just before we locked it. A fresh
        # statement sees that commit, so no item is encoded twice.
        done = set(
            conn.execute(
                ALREADY_DONE_SQL,
                {
                    "ids": [c.item_id for c in claims],
                    "hashes": [c.content_hash for c in claims],
                    "model": model,
                },
            ).scalars()
        )
        claims = [c for c in claims if c.item_id not in done]
        if claims:
            return claims
        # Everything we locked was just finished by others; the next claim's fresh
        # snapshot no longer sees those items as needed.
    return []


UPSERT_SQL = text(
    """
    INSERT INTO item_embeddings (item_id, model, embedding, content_hash, embedded_at)
    SELECT u.item_id, :model, CAST(u.embedding AS vector), u.content_hash, now()
    FROM unnest(CAST(:ids AS bigint[]), CAST(:vectors AS text[]), CAST(:hashes AS text[]))
      AS u(item_id, embedding, content_hash)
    ON CONFLICT (item_id, model) DO UPDATE
      SET embedding = EXCLUDED.embedding,
          content_hash = EXCLUDED.content_hash,
          embedded_at = EXCLUDED.embedded_at
    """
)


def _vector_text(v: np.ndarray) -> str:
    # repr of the float64 that holds a float32 reads back to the same float32 exactly.
    return "[" + ",".join(map(repr, v.tolist())) + "]"


def upsert_vectors(
    conn: Connection, *, model: ModelInfo, claims: Sequence[Claim], vectors: np.ndarray
) -> int:
    """Store one vector per claimed item, tagged with the hash of the text it came from.

    Triggers on item_embeddings send NOTIFY pgrec_vectors at commit when `model` is active.
    """
    if vectors.ndim != 2 or vectors.shape[0] != len(claims):
        raise VectorShapeError(f"{vectors.shape[0]} vectors for {len(claims)} claimed items")
    if vectors.shape[1] != model.dim:
        raise VectorShapeError(
            f"model {model.name!r} is registered with dim {model.dim} "
            f"but produced {vectors.shape[1]}-d vectors"
        )
    if not claims:
        return 0
    conn.execute(
        UPSERT_SQL,
        {
            "model": model.name,
            "ids": [c.item_id for c in claims],
            "vectors": [_vector_text(v) for v in vectors.astype(np.float32, copy=False)],
            "hashes": [c.content_hash for c in claims],
        },
    )
    return len(claims)


def coverage(conn: Connection, *, model: str) -> Coverage:
    """How many items exist and how many have a vector of their current text under `model`."""
    row = conn.execute(
        text(
            """
            SELECT (SELECT count(*) FROM items),
                   (SELECT count(*) FROM item_embeddings e
                    JOIN items i ON i.id = e.item_id AND i.content_hash = e.content_hash
                    WHERE e.model = :m)
            """
        ),
        {"m": model},
    ).one()
    return Coverage(items=int(row[0]), embedded=int(row[1]))


def embedding_status(conn: Connection) -> list[StatusRow]:
    """The `embedding_status` view: per model, coverage and the latest run."""
    rows = conn.execute(
        text(
            "SELECT model, dim, active, items, embedded, needed, coverage_pct, last_run_at, "
            "last_run_items, last_run_rate FROM embedding_status ORDER BY active DESC, model"
        )
    )
    return [
        StatusRow(
            model=r[0],
            dim=int(r[1]),
            active=bool(r[2]),
            items=int(r[3]),
            embedded=int(r[4]),
            needed=int(r[5]),
            coverage_pct=float(r[6]),
            last_run_at=r[7],
            last_run_items=None if r[8] is None else int(r[8]),
            last_run_rate=None if r[9] is None else float(r[9]),
        )
        for r in rows
    ]


def vectors_version(conn: Connection) -> int:
    """The counter carried by the latest pgrec_vectors notification (0 before any)."""
    row = conn.execute(text("SELECT last_value, is_called FROM pgrec_vectors_version")).one()
    return int(row[0]) if row[1] else 0


def model_stats(*, conn: Connection) -> list[dict[str, Any]]:
    """Each registered embedding model with its number of vectors."""
    return dict_rows(
        conn,
        "SELECT m.name, m.dim, m.path, m.active, count(e.item_id) AS vectors"
        " FROM embedding_models m LEFT JOIN item_embeddings e ON e.model = m.name"
        " GROUP BY m.name, m.dim, m.path, m.active ORDER BY m.active DESC, m.name",
    )


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
