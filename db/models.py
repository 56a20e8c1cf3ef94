"""SQLAlchemy 2 models of the catalog, its embeddings and user interactions.

The schema only changes through Alembic migrations; these models are what `alembic check`
compares the migrated database against. Generated columns call SQL functions created by
the first migration (`pgrec_embed_text`, `pgrec_array_text`, `pgrec_norm_title`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Identity,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REAL, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, item_fk, model_fk, one_active_index

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_DIM = 384
EVENTS = ("view", "click", "like", "purchase", "rating")

# The exact text that gets embedded; content_hash is its md5, so any change to an embedded
# field (through pgrec or plain SQL) changes the hash and makes the item due for embedding.
EMBED_TEXT_SQL = "pgrec_embed_text(title, categories, tags, description)"
SEARCH_TSV_SQL = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, pgrec_array_text(categories || tags)), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')"
)


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    external_id: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default="")
    kind: Mapped[str] = mapped_column(Text, server_default="item")
    categories: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    year: Mapped[int | None] = mapped_column(Integer)
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    available: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    popularity: Mapped[float] = mapped_column(REAL, server_default=text("0"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    content_hash: Mapped[str] = mapped_column(Text, Computed(f"md5({EMBED_TEXT_SQL})"))
    search_tsv: Mapped[Any] = mapped_column(TSVECTOR, Computed(SEARCH_TSV_SQL))

    __table_args__ = (
        CheckConstraint("btrim(external_id) <> ''", name="external_id_not_blank"),
        CheckConstraint("btrim(title) <> ''", name="title_not_blank"),
        CheckConstraint("price IS NULL OR price >= 0", name="price_not_negative"),
        Index("ix_items_search_tsv", "search_tsv", postgresql_using="gin"),
        Index("ix_items_categories", "categories", postgresql_using="gin"),
        Index("ix_items_tags", "tags", postgresql_using="gin"),
        Index(
            "ix_items_attributes",
            "attributes",
            postgresql_using="gin",
            postgresql_ops={"attributes": "jsonb_path_ops"},
        ),
        Index("ix_items_year", "year"),
        Index("ix_items_price", "price"),
        Index("ix_items_popularity", "popularity"),
        Index("ix_items_created_at", "created_at", "id"),
        Index("ix_items_available", "available", postgresql_where=text("NOT available")),
    )


# Kinds are filtered regardless of case (rec.filter_sql, migration 0021).
Index("ix_items_kind_lower", func.lower(Item.kind))

# Typo-tolerant title search compares pgrec_norm_title(title) with the query by trigrams.
Index(
    "ix_items_title_trgm",
    func.pgrec_norm_title(Item.title).label("norm_title"),
    postgresql_using="gin",
    postgresql_ops={"norm_title": "gin_trgm_ops"},
)


class EmbeddingModel(Base):
    __tablename__ = "embedding_models"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    # Where the sentence-transformers model is loaded from: a directory or "package:NAME".
    path: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # The drift check at activation: neighbour overlap@10 with the model it replaced.
    neighbor_overlap: Mapped[float | None] = mapped_column(REAL)
    overlap_against: Mapped[str | None] = mapped_column(Text)
    overlap_checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # What the model's HNSW index stores (db/vector_index.py, PGREC_VECTOR_STORAGE): rec.semantic
    # orders by the same expression so that the index serves it.
    storage: Mapped[str] = mapped_column(Text, server_default=text("'vector'"))

    __table_args__ = (
        CheckConstraint("dim > 0 AND dim <= 16000", name="dim_range"),
        CheckConstraint("storage IN ('vector', 'halfvec')", name="storage_known"),
        # At most one active row; "at least one" is a deferred constraint trigger.
        one_active_index("embedding_models"),
    )


class ItemEmbedding(Base):
    __tablename__ = "item_embeddings"

    item_id: Mapped[int] = mapped_column(BigInteger, item_fk(), primary_key=True)
    model: Mapped[str] = mapped_column(Text, model_fk(), primary_key=True)
    # No fixed dimension: models of different sizes live side by side; each model's HNSW
    # index is a partial expression index casting to vector(dim) (see db/vector_index.py).
    embedding: Mapped[Any] = mapped_column(Vector())
    content_hash: Mapped[str] = mapped_column(Text)
    embedded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (Index("ix_item_embeddings_model", "model"),)


class Interaction(Base):
    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    user_id: Mapped[str] = mapped_column(Text)
    item_id: Mapped[int] = mapped_column(BigInteger, item_fk())
    event: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(REAL)
    occurred_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # The impression (served list) this event answers, when the client passed it on.
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    __table_args__ = (
        CheckConstraint(
            "event IN ('view', 'click', 'like', 'purchase', 'rating')", name="event_known"
        ),
        CheckConstraint("btrim(user_id) <> ''", name="user_id_not_blank"),
        # Re-loading the same events is a no-op (ON CONFLICT DO NOTHING).
        UniqueConstraint("user_id", "item_id", "event", "occurred_at"),
        Index("ix_interactions_user_time", "user_id", text("occurred_at DESC")),
        Index("ix_interactions_item_id", "item_id"),
        Index(
            "ix_interactions_request_id",
            "request_id",
            postgresql_where=text("request_id IS NOT NULL"),
        ),
        # The events that name a served list, by time: what the online CTR reads (0019).
        Index(
            "ix_interactions_request_time",
            "occurred_at",
            postgresql_where=text("request_id IS NOT NULL"),
        ),
    )


# Tables of the jobs live beside their own code; importing them here registers them on
# Base.metadata for Alembic.
from db import models_collab, models_graph, models_jobs, models_online  # noqa: E402

__all__ = [
    "EmbeddingModel",
    "Interaction",
    "Item",
    "ItemEmbedding",
    "models_collab",
    "models_graph",
    "models_jobs",
    "models_online",
]
