"""collaborative: co-occurrence, item stats, ranking models, and the hybrid user mode.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db import frozen_sql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _item_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["items.id"], name=op.f(f"fk_{table}_{column}_items"), ondelete="CASCADE"
    )


def _tables() -> None:
    # The fresh source: newest first, ties (a bulk load shares one timestamp) by id.
    op.create_index("ix_items_created_at", "items", ["created_at", "id"])
    op.create_table(
        "item_cooccurrence",
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("neighbor_id", sa.BigInteger(), nullable=False),
        sa.Column("score", postgresql.REAL(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.CheckConstraint("rank >= 1", name=op.f("ck_item_cooccurrence_rank_positive")),
        sa.CheckConstraint("neighbor_id <> item_id", name=op.f("ck_item_cooccurrence_not_self")),
        _item_fk("item_cooccurrence", "item_id"),
        _item_fk("item_cooccurrence", "neighbor_id"),
        sa.PrimaryKeyConstraint("item_id", "rank", name=op.f("pk_item_cooccurrence")),
    )
    op.create_index("ix_item_cooccurrence_neighbor_id", "item_cooccurrence", ["neighbor_id"])
    op.create_table(
        "item_stats",
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("positive_users", sa.Integer(), nullable=False),
        sa.Column("preference", postgresql.REAL(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        _item_fk("item_stats", "item_id"),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_item_stats")),
    )
    op.create_index("ix_item_stats_preference", "item_stats", [sa.text("preference DESC")])
    op.create_table(
        "ranking_models",
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("features", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("trained_on", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_ranking_models")),
    )
    op.create_index(
        "uq_ranking_models_one_active",
        "ranking_models",
        [sa.text("(true)")],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "job_state",
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column(
            "ran_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("seconds", postgresql.REAL(), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "job IN ('cooccurrence', 'ranker')", name=op.f("ck_job_state_job_known")
        ),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_job_state")),
    )


# Functions of the hybrid user mode. Candidates come from several sources (co-occurrence
# lists of the user's recent likes, a semantic search per interest, popular and fresh items,
# all within the filters), every candidate gets the same features, the active ranking model
# (or the documented fallback weights) scores them, and the list is interleaved across the
# user's interests. Training (jobs/ranker.py) calls rec.user_candidates too, so the features
# the model learns from are the ones it is served.
# The SQL is frozen, one file per object, in migrations/versions/sql/0005 (rec._mean and
# rec.user_profile replace 0004's, rec.for_user becomes the hybrid mode); in creation order.
OBJECTS = (
    "rec._mean",
    "rec.user_profile",
    "rec.popular",
    "rec.cooccurring",
    "rec.user_history",
    "rec.user_interests",
    "rec.ranker_features",
    "rec._feature_sources",
    "rec.user_candidates",
    "rec.ranker",
    "rec.for_user_explained",
    "rec._titles",
    "rec._in_category",
    "rec.for_user",
    "rec.for_user_centroid",
    "rec.item_cooccurrence_v",
)
# sha256 of migrations/versions/sql/0005 and of 0004's, whose rec.for_user the downgrade
# restores (db.frozen_sql.digest): the files never change.
SHA256 = "07c46ce97730e95e2eaacefe4d43eb40af9962133b8fa0ada133075265b5c974"
SHA256_0004 = "9d4139e97edf300d27676460fda51bfe7230068f003111d06cbbe1aa4a82f6f0"

GRANTS = """
GRANT SELECT ON rec.item_cooccurrence_v TO pgrec_analyst;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA rec TO pgrec_analyst;
"""

DROP = """
DROP VIEW rec.item_cooccurrence_v;
DROP FUNCTION rec.for_user_centroid(text, integer, jsonb);
DROP FUNCTION rec.for_user_explained(text, integer, jsonb, bigint[], bigint[]);
DROP FUNCTION rec._in_category(bigint, jsonb);
DROP FUNCTION rec._titles(bigint[]);
DROP FUNCTION rec.ranker();
DROP FUNCTION rec.user_candidates(text, jsonb, integer, bigint[], bigint[]);
DROP FUNCTION rec._feature_sources();
DROP FUNCTION rec.ranker_features();
DROP FUNCTION rec.user_interests(text, integer, bigint[], bigint[]);
DROP FUNCTION rec.user_history(text, bigint[], bigint[]);
DROP FUNCTION rec.cooccurring(bigint, integer, jsonb);
DROP FUNCTION rec.popular(integer, jsonb);
"""


def upgrade() -> None:
    _tables()
    # The analyst role (0004) reads every table; default privileges cover new tables, but
    # say it here too so a database migrated before the role existed is covered.
    op.execute(
        "GRANT SELECT ON item_cooccurrence, item_stats, ranking_models, job_state TO pgrec_analyst"
    )
    sql = frozen_sql.load("0005", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])
    op.execute(GRANTS)


def downgrade() -> None:
    # 0004's user mode back; rec._mean and rec.user_profile keep 0005's fixes.
    op.execute(frozen_sql.load("0004", SHA256_0004)["rec.for_user"])
    op.execute(DROP)
    op.drop_index("ix_items_created_at", table_name="items")
    op.drop_table("job_state")
    op.drop_table("ranking_models")
    op.drop_table("item_stats")
    op.drop_table("item_cooccurrence")
