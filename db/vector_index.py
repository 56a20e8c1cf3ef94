"""Per-model HNSW indexes: partial expression indexes over item_embeddings, one per model.

item_embeddings.embedding has no fixed dimension so that models of different sizes live side
by side; each model's index casts to its own `vector(dim)` and covers only its rows. A query
must use the same expression and predicate to be served by it:
`ORDER BY embedding::vector(DIM) <=> :q WHERE model = :name`, or `halfvec(DIM)` when the
index stores float16 (PGREC_VECTOR_STORAGE; embedding_models.storage records which, and
rec.semantic reads it). The names share the prefix that migrations/env.py leaves out of
`alembic check`, since models come and go at run time.
"""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import Connection, Engine, text

from db.embeddings import MODEL_NAME
from db.settings import get_settings

INDEX_PREFIX = "ix_item_embeddings_hnsw_"
STORAGES = ("vector", "halfvec")
PGVECTOR_EF_CONSTRUCTION = 64  # what an index built without the option has
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


def _definition(conn: Connection, model: str) -> str | None:
    """CREATE INDEX text of the index named for `model`, if there is one."""
    return conn.execute(
        text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
        {"n": hnsw_index_name(model)},
    ).scalar()


def index_owner(conn: Connection, *, model: str) -> str | None:
    """The model whose index already has this model's name (different names can share a slug)."""
    definition = _definition(conn, model)
    if definition is None:
        return None
    match = re.search(r"WHERE \(model = '((?:[^']|'')*)'::text\)", definition)
    return match.group(1).replace("''", "'") if match else None


def index_storage(conn: Connection, *, model: str) -> str | None:
    """What the model's index stores ('vector' or 'halfvec'); None without an index."""
    build = index_build(conn, model=model)
    return None if build is None else build[0]


def index_build(conn: Connection, *, model: str) -> tuple[str, int] | None:
    """(storage, ef_construction) the model's index was built with; None without an index.
    An index built without the option has pgvector's default, 64."""
    definition = _definition(conn, model)
    if definition is None:
        return None
    storage = "halfvec" if "halfvec_cosine_ops" in definition else "vector"
    found = re.search(r"ef_construction\s*=\s*'?(\d+)'?", definition)
    return storage, int(found.group(1)) if found else PGVECTOR_EF_CONSTRUCTION


def create_hnsw_index(conn: Connection, *, model: str, dim: int, storage: str | None = None) -> str:
    """Create the model's cosine HNSW index in the caller's transaction; returns its name.

    `storage` defaults to PGREC_VECTOR_STORAGE; an index built with the other storage is
    rebuilt here, and embedding_models.storage records the one the index has. A new index
    gets PGREC_HNSW_EF_CONSTRUCTION; an existing one built with another value is left to
    sync_storage (`pgrec migrate`), which rebuilds it concurrently."""
    storage = _checked_storage(storage)
    name = hnsw_index_name(model)
    owner = index_owner(conn, model=model)
    if owner is not None and owner != model:
        raise ValueError(f"model name {model!r} maps to the index of model {owner!r}: rename it")
    if index_storage(conn, model=model) not in (None, storage):
        conn.execute(text(f"DROP INDEX {name}"))
    conn.execute(text(_create_sql(name, model=model, dim=dim, storage=storage)))
    _record_storage(conn, model=model, storage=storage)
    return name


def _checked_storage(storage: str | None) -> str:
    storage = storage or get_settings().vector_storage
    if storage not in STORAGES:
        raise ValueError(f"unknown vector storage {storage!r}: one of {', '.join(STORAGES)}")
    return storage


def _wanted(storage: str) -> tuple[str, int]:
    """How an index should be built now: the storage, PGREC_HNSW_EF_CONSTRUCTION."""
    return storage, get_settings().hnsw_ef_construction


def create_sql(name: str, *, model: str, dim: int, storage: str | None = None) -> str:
    """The CREATE INDEX of a model's HNSW index as this deployment builds it (bulk loaders
    that drop the index and build it after the load use it)."""
    return _create_sql(name, model=model, dim=dim, storage=_checked_storage(storage))


def _create_sql(
    name: str, *, model: str, dim: int, storage: str, concurrently: bool = False
) -> str:
    how = "CONCURRENTLY" if concurrently else "IF NOT EXISTS"
    return (
        f"CREATE INDEX {how} {name} ON item_embeddings "
        f"USING hnsw ((embedding::{storage}({int(dim)})) {storage}_cosine_ops) "
        f"WITH (ef_construction = {int(_wanted(storage)[1])}) "
        f"WHERE model = {_literal(model)}"
    )


def _record_storage(conn: Connection, *, model: str, storage: str) -> None:
    conn.execute(
        text("UPDATE embedding_models SET storage = :s WHERE name = :m AND storage <> :s"),
        {"s": storage, "m": model},
    )


def building_name(model: str) -> str:
    """The name a model's index is built under before it is swapped in: the prefix, then an
    underscore no model's slug starts with (hnsw_index_name strips them), so it names no
    model's index."""
    return (INDEX_PREFIX + "_" + hnsw_index_name(model)[len(INDEX_PREFIX) :])[:_MAX_IDENTIFIER]


def sync_storage(engine: Engine, *, storage: str | None = None) -> list[str]:
    """Rebuild every model index whose storage is not `storage` (default the setting) or
    whose ef_construction is not PGREC_HNSW_EF_CONSTRUCTION, and return those models' names;
    a model without an index keeps none (activation creates it).

    Reads and writes go on meanwhile (minutes at 1M items): the new index is built
    CONCURRENTLY under `building_name`, then swapped in by one short transaction that drops
    the old index, renames the new one and records the storage rec.semantic reads; until
    then rec.semantic keeps using the old index with the old storage's expression."""
    storage = _checked_storage(storage)
    with engine.begin() as conn:
        stale = []
        for name, dim in conn.execute(text("SELECT name, dim FROM embedding_models ORDER BY name")):
            current = index_build(conn, model=name)
            if current == _wanted(storage):
                _record_storage(conn, model=name, storage=storage)
            elif current is not None:
                stale.append((str(name), int(dim)))
    for name, dim in stale:
        building = building_name(name)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # An interrupted build leaves an invalid index under that name: start afresh.
            conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {building}"))
            sql = _create_sql(building, model=name, dim=dim, storage=storage, concurrently=True)
            conn.execute(text(sql))
        with engine.begin() as conn:
            conn.execute(text(f"DROP INDEX {hnsw_index_name(name)}"))
            conn.execute(text(f"ALTER INDEX {building} RENAME TO {hnsw_index_name(name)}"))
            _record_storage(conn, model=name, storage=storage)
    return [name for name, _ in stale]


def drop_hnsw_index(conn: Connection, *, model: str) -> bool:
    """Drop the model's index (never another model's that shares the name); False if none."""
    if index_owner(conn, model=model) != model:
        return False
    conn.execute(text(f"DROP INDEX IF EXISTS {hnsw_index_name(model)}"))
    return True
