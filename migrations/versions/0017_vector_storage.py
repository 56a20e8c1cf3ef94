"""vector storage: halfvec HNSW indexes as a setting; the filtered planner counts less.

`embedding_models.storage` says what a model's HNSW index stores, `vector` (float32) or
`halfvec` (float16: half the index, measured faster at 1M items with better recall;
docs/scaling.md). db/vector_index.py builds the index for PGREC_VECTOR_STORAGE and records
it here; rec.semantic orders its HNSW scan by the matching expression so that the index
serves it, and re-ranks with the stored float32 vectors as before.

rec._vector_plan sends a filter estimated over 1.25x the exact scan's threshold to HNSW
without counting its rows first (rec._defaults' estimate_margin; it was 3x): at 10% of the
40k bench catalog the count it threw away was a quarter of the query.

The functions are frozen files in migrations/versions/sql/0017 (db/sql links to them);
migrations/README.md says how to change one.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db import frozen_sql

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0017, and of 0016's and 0010's, whose functions the
# downgrade restores (db.frozen_sql.digest): the files never change.
SHA256 = "41b32551b8a192015e87f8d4353fab10fe90126dbd0d467567d99210dbe3cc5e"
SHA256_0016 = "b0e519c36b705deef619ec7b31c5505e8b9c9055e5c37d9644ad9bc25d970e77"
SHA256_0010 = "12fc3ad4967945cc717eeb850bf93518caff91c920314edcf21c1315c3bd6e00"

# In creation order: rec.semantic reads the new column.
OBJECTS = ("rec._defaults", "rec._vector_plan", "rec.semantic")


def upgrade() -> None:
    op.add_column(
        "embedding_models",
        sa.Column("storage", sa.Text(), server_default=sa.text("'vector'"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_embedding_models_storage_known"),
        "embedding_models",
        "storage IN ('vector', 'halfvec')",
    )
    sql = frozen_sql.load("0017", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])


def downgrade() -> None:
    # A halfvec index stays; 0010's rec.semantic no longer uses it (its scan casts to vector)
    # until the index is rebuilt as vector (PGREC_VECTOR_STORAGE=vector).
    before = frozen_sql.load("0010", SHA256_0010)
    op.execute(before["rec.semantic"])
    op.execute(before["rec._vector_plan"])
    op.execute(frozen_sql.load("0016", SHA256_0016)["rec._defaults"])
    op.drop_constraint(op.f("ck_embedding_models_storage_known"), "embedding_models", type_="check")
    op.drop_column("embedding_models", "storage")
