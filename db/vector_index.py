"""Per-model HNSW indexes: partial expression indexes over item_embeddings, one per model.

item_embeddings.embedding has no fixed dimension so that models of different sizes live side
by side; each model's index casts to its own `vector(dim)` and covers only its rows. A query
must use the same expression and predicate to be served by it:
`ORDER BY embedding::vector(DIM) <=> :q WHERE model = :name`. The names share the prefix
that migrations/env.py leaves out of `alembic check`, since models come and go at run time.
"""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import Connection, text

from db.embeddings import MODEL_NAME

INDEX_PREFIX = "ix_item_embeddings_hnsw_"
_MAX_IDENTIFIER = 63


def hnsw_index_name(model: str) -> str:
    """`ix_item_embeddings_hnsw_<slug>`; the default model's is made by the migrations."""
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")
    room = _MAX_IDENTIFIER - len(INDEX_PREFIX)
    if len(slug) > room:
        digest = hashlib.md5(model.encode()).hexdigest()[:8]
        slug = slug[: room - 9] + "_" + digest
    return INDEX_PREFIX + slug


def _literal(model: str) -> str:
    # DDL takes no bind parameters; registered names are restricted to plain characters.
    if not MODEL_NAME.fullmatch(model):
        raise ValueError(f"not a valid model name: {model!r}")
    return "'" + model.replace("'", "''") + "'"


def hnsw_index_exists(conn: Connection, *, model: str) -> bool:
    return bool(
        conn.execute(
            text("SELECT to_regclass(:n) IS NOT NULL"), {"n": hnsw_index_name(model)}
        ).scalar_one()
    )


def index_owner(conn: Connection, *, model: str) -> str | None:
    """The model whose index already has this model's name (different names can share a slug)."""
    definition = conn.execute(
        text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
        {"n": hnsw_index_name(model)},
    ).scalar()
    if definition is None:
        return None
    match = re.search(r"WHERE \(model = '((?:[^']|'')*)'::text\)", definition)
    return match.group(1).replace("''", "'") if match else None


def create_hnsw_index(conn: Connection, *, model: str, dim: int) -> str:
    """Create the model's cosine HNSW index in the caller's transaction; returns its name."""
    name = hnsw_index_name(model)
    owner = index_owner(conn, model=model)
    if owner is not None and owner != model:
        raise ValueError(f"model name {model!r} maps to the index of model {owner!r}: rename it")
    conn.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {name} ON item_embeddings "
            f"USING hnsw ((embedding::vector({int(dim)})) vector_cosine_ops) "
            f"WHERE model = {_literal(model)}"
        )
    )
    return name


def drop_hnsw_index(conn: Connection, *, model: str) -> bool:
    """Drop the model's index (never another model's that shares the name); False if none."""
    if index_owner(conn, model=model) != model:
        return False
    conn.execute(text(f"DROP INDEX IF EXISTS {hnsw_index_name(model)}"))
    return True
