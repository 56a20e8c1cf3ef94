"""impressions: what the API served, request ids on interactions, online metric views, drift.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db import frozen_sql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One row per impression: a served list, its items in order (position = array index).
# A click or purchase names the request id, so outcomes join to exactly what was shown.
# The views' SQL is frozen in migrations/versions/sql/0008 (db/sql/views links to it).
OBJECTS = (
    "rec.impression_items",
    "rec.impression_outcomes",
    "rec.online_ctr",
    "rec.served_coverage_daily",
    "rec.impression_quality",
)
# sha256 of migrations/versions/sql/0008 (db.frozen_sql.digest): the files never change.
SHA256 = "ad0ef5aa40c1a59e0bfbb3f880abdf203fd30e540dec45788d8f7ae0c33e4ab1"


def upgrade() -> None:
    op.create_table(
        "impressions",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column(
            "served_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("variant", sa.Text(), nullable=False),
        sa.Column("ranker", sa.Text(), nullable=True),
        sa.Column("snapshot_version", sa.Integer(), nullable=True),
        sa.Column("item_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_impressions")),
    )
    op.create_index("ix_impressions_served_at", "impressions", ["served_at"])
    op.add_column("interactions", sa.Column("request_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_interactions_request_id",
        "interactions",
        ["request_id"],
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )
    op.add_column("embedding_models", sa.Column("neighbor_overlap", postgresql.REAL()))
    op.add_column("embedding_models", sa.Column("overlap_against", sa.Text()))
    op.add_column("embedding_models", sa.Column("overlap_checked_at", sa.DateTime(timezone=True)))
    sql = frozen_sql.load("0008", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])
    op.execute("GRANT SELECT ON impressions TO pgrec_analyst")
    op.execute(f"GRANT SELECT ON {', '.join(OBJECTS)} TO pgrec_analyst")


def downgrade() -> None:
    for name in reversed(OBJECTS):
        op.execute(f"DROP VIEW {name}")
    op.drop_column("embedding_models", "overlap_checked_at")
    op.drop_column("embedding_models", "overlap_against")
    op.drop_column("embedding_models", "neighbor_overlap")
    op.drop_index("ix_interactions_request_id", table_name="interactions")
    op.drop_column("interactions", "request_id")
    op.drop_index("ix_impressions_served_at", table_name="impressions")
    op.drop_table("impressions")
