"""vector storage: halfvec HNSW indexes as a setting; the filtered planner's beam follows selectivity.

`embedding_models.storage` says what a model's HNSW index stores, `vector` (float32) or
`halfvec` (float16: half the index, measured faster at 1M items with better recall;
docs/scaling.md). db/vector_index.py builds the index for PGREC_VECTOR_STORAGE and records
it here; rec.semantic orders its HNSW scan by the matching expression so that the index
serves it, and re-ranks with the stored float32 vectors as before.

rec._vector_plan sizes the iterative scan's first beam from the filter's selectivity
(rec._defaults: ef_search_min 40, ef_per_candidate 0.5, estimate_margin 2) instead of a flat
200: bench/filtered_probe.py on the 40k bench catalog measured the HNSW path's CPU time
falling by about half at 50% and 10% of the catalog matching, recall@10 >= 0.98.

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
SHA256 = "d0868959205e808abadb0c82e8ec5cdde0242dd6f0c5946a3c7c563537451242"
SHA256_0016 = "b0e519c36b705deef619ec7b31c5505e8b9c9055e5c37d9644ad9bc25d970e77"
SHA256_0010 = "12fc3ad4967945cc717eeb850bf93518caff91c920314edcf21c1315c3bd6e00"

# In creation order: rec._vector_plan reads rec._defaults, rec.semantic the new column.
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
