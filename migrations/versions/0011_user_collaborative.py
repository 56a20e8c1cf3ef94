"""user_collaborative: the user mode's EASE lists (item_collaborative), recent-first scoring.

rec.user_candidates' collaborative source summed co-occurrence cosines over the user's 50
most recent likes, all weighing the same; the item a MovieLens user likes next follows what
they rated last. Here it sums EASE weights (item_collaborative, written by the
co-occurrence job, jobs/ease.py) over the 20 most recent items, decayed by position, and
rec.ranker's fallback weights are the ones chosen on the validation users of `pgrec eval`
(bench/eval_usermode.py). The functions are frozen files in migrations/versions/sql/0011.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db import frozen_sql

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0011 and of 0005's, whose functions the downgrade
# restores (db.frozen_sql.digest): the files never change.
SHA256 = "ea08e56c1ef211c6093869fbb67aa573613254dfebc173fa1c6ea0e0dbf002bb"
SHA256_0005 = "07c46ce97730e95e2eaacefe4d43eb40af9962133b8fa0ada133075265b5c974"

OBJECTS = ("rec.user_candidates", "rec.ranker")


def upgrade() -> None:
    op.create_table(
        "item_collaborative",
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("neighbor_id", sa.BigInteger(), nullable=False),
        sa.Column("score", postgresql.REAL(), nullable=False),
        sa.CheckConstraint("rank >= 1", name=op.f("ck_item_collaborative_rank_positive")),
        sa.CheckConstraint("neighbor_id <> item_id", name=op.f("ck_item_collaborative_not_self")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_collaborative_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["neighbor_id"], ["items.id"], name=op.f("fk_item_collaborative_neighbor_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", "rank", name=op.f("pk_item_collaborative")),
    )  # fmt: skip
    # Deleting an item cascades to the lists naming it as a neighbour.
    op.create_index("ix_item_collaborative_neighbor_id", "item_collaborative", ["neighbor_id"])
    op.execute("GRANT SELECT ON item_collaborative TO pgrec_analyst")
    sql = frozen_sql.load("0011", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])


def downgrade() -> None:
    sql = frozen_sql.load("0005", SHA256_0005)
    for name in OBJECTS:
        op.execute(sql[name])
    op.drop_table("item_collaborative")
