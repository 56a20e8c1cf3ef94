"""vector storage: halfvec HNSW indexes as a setting; the filtered planner counts less.

`embedding_models.storage` says what a model's HNSW index stores, `vector` (float32) or
`halfvec` (float16: half the index, measured faster at 1M items with better recall;
docs/scaling.md). db/vector_index.py builds the index for PGREC_VECTOR_STORAGE and records
it here; rec.semantic orders its HNSW scan by the matching expression so that the index
serves it, and re-ranks with the stored float32 vectors as before.

rec._vector_plan sends a filter estimated over 1.25x the exact scan's threshold to HNSW
without counting its rows first (rec._defaults' estimate_margin; it was 3x): at 10% of the
40k bench catalog the count it threw away was a quarter of the query.

The user mode ranks by score (rec._defaults' interleave 0; SET pgrec.interleave = 1 brings
the interleaving back) with re-tuned fallback coefficients (cooc 1, cooc_hits 0.03, sem
0.01, pop 0.0003): the argmax of bench/eval_usermode.py's grid on the validation users, which
now also weighs cooc_hits and cooc_max and treats interleaving as a knob (validation HR@10
0.201 against 0.191 for 0016's interleaved weights; docs/user_mode.md).

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

# sha256 of migrations/versions/sql/0017, and of the baseline's, whose functions the
# downgrade restores (db.frozen_sql.digest): the files never change.
SHA256 = "9b4b2d790d02d5684986aa40d4eeddc7dc731261222279c23a5c0e46dded8067"
SHA256_0016 = "2c2db84cae355b41a7c29f8366f7bf5758eed63fa9e4c7e8cddc80c983acce60"

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
    # A halfvec index stays; the baseline's rec.semantic no longer uses it (its scan casts to
    # vector) until the index is rebuilt as vector (PGREC_VECTOR_STORAGE=vector).
    before = frozen_sql.load("0016", SHA256_0016)
    for name in reversed(OBJECTS):
        op.execute(before[name])
    op.drop_constraint(op.f("ck_embedding_models_storage_known"), "embedding_models", type_="check")
    op.drop_column("embedding_models", "storage")
