"""neighbors_clusters: item_neighbors, item_clusters, clusters and the refresh jobs' state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _item_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["items.id"], name=op.f(f"fk_{table}_{column}_items"), ondelete="CASCADE"
    )


def _model_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["model"],
        ["embedding_models.name"],
        name=op.f(f"fk_{table}_model_embedding_models"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "item_neighbors",
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("neighbor_id", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.REAL(), nullable=False),
        sa.CheckConstraint("rank >= 1", name=op.f("ck_item_neighbors_rank_positive")),
        sa.CheckConstraint("neighbor_id <> item_id", name=op.f("ck_item_neighbors_not_self")),
        _item_fk("item_neighbors", "item_id"),
        _item_fk("item_neighbors", "neighbor_id"),
        _model_fk("item_neighbors"),
        sa.PrimaryKeyConstraint("model", "item_id", "rank", name=op.f("pk_item_neighbors")),
    )
    op.create_index(
        "ix_item_neighbors_model_neighbor_id", "item_neighbors", ["model", "neighbor_id"]
    )

    op.create_table(
        "item_clusters",
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("cluster", sa.Integer(), nullable=False),
        _item_fk("item_clusters", "item_id"),
        _model_fk("item_clusters"),
        sa.PrimaryKeyConstraint("model", "item_id", name=op.f("pk_item_clusters")),
    )
    op.create_index("ix_item_clusters_model_cluster", "item_clusters", ["model", "cluster"])

    op.create_table(
        "clusters",
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("cluster", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("top_terms", postgresql.ARRAY(sa.Text()), nullable=False),
        _model_fk("clusters"),
        sa.PrimaryKeyConstraint("model", "cluster", name=op.f("pk_clusters")),
    )

    op.create_table(
        "refresh_state",
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column(
            "ran_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("seconds", sa.REAL(), nullable=False),
        sa.CheckConstraint(
            "job IN ('neighbors', 'clusters')", name=op.f("ck_refresh_state_job_known")
        ),
        sa.CheckConstraint(
            "mode IN ('full', 'incremental')", name=op.f("ck_refresh_state_mode_known")
        ),
        _model_fk("refresh_state"),
        sa.PrimaryKeyConstraint("model", "job", name=op.f("pk_refresh_state")),
    )


def downgrade() -> None:
    op.drop_table("refresh_state")
    op.drop_table("clusters")
    op.drop_table("item_clusters")
    op.drop_table("item_neighbors")
