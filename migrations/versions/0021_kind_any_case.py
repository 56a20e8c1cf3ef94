"""Kind filters match regardless of case.

A catalog stores an item's kind as its source spelled it (the Netflix reader writes
"movie", a generic file may say "Movie"), and rec.filter_sql compared kinds exactly, so
`kind=Movie` against a catalog of "movie" answered 200 with nothing. Kinds now compare
by lower(kind), in the REST API and in rec.* alike; the index on kind becomes one on
lower(kind), and items is analysed so the planner has that expression's statistics at once.
Categories and tags still compare exactly (docs/analysts.md).

The function is a frozen file in migrations/versions/sql/0021 (db/sql links to it);
migrations/README.md says how to change one.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import frozen_sql

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0021 and of the folder whose definition the downgrade
# restores (db.frozen_sql.digest): the files never change.
SHA256 = "0b69a41e8989d5cbfc13d56ba3c40dbafc13622953a30e238f8e9eba9b398b54"
SHA256_0016 = "2c2db84cae355b41a7c29f8366f7bf5758eed63fa9e4c7e8cddc80c983acce60"


def upgrade() -> None:
    op.create_index("ix_items_kind_lower", "items", [sa.text("lower(kind)")])
    op.drop_index("ix_items_kind", table_name="items")
    op.execute(frozen_sql.load("0021", SHA256)["rec.filter_sql"])
    # The planner estimates lower(kind) from the new index's statistics, which only ANALYZE
    # gathers: without it every kind filter is estimated at 0.5% of the catalog (and
    # counted by rec._vector_plan) until autovacuum happens to analyze a catalog that may
    # not change for days.
    op.execute("ANALYZE items")


def downgrade() -> None:
    op.execute(frozen_sql.load("0016", SHA256_0016)["rec.filter_sql"])
    op.create_index("ix_items_kind", "items", ["kind"])
    op.drop_index("ix_items_kind_lower", table_name="items")
