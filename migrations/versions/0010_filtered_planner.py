"""filtered: a cheaper planner for filtered vector queries (rec.semantic, rec.vector_plan).

rec.semantic counted the matching rows (up to 5,000 or 10% of the catalog), then scanned
and filtered them again for the exact answer, in parallel workers; above the threshold HNSW
searched with ef_search at least 400. Now rec._vector_plan collects the matching ids once,
up to a threshold that grows with the square root of the catalog (exact cost grows with
the matching rows, HNSW's with k / selectivity; a filter estimated at over 3x the threshold
skips the collection), the exact scan reads only those ids by primary key, and HNSW's
iterative scan starts from a beam sized for broad filters (pgrec.ef_search_min 200) and
re-ranks a few more than k candidates exactly. No parallel workers or JIT inside
rec.semantic. Same signatures, same answers (docs/analysts.md).

The functions are frozen files in migrations/versions/sql/0010 (db/sql links to them);
migrations/README.md says how to change one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0010 and of 0004's, whose rec.semantic and
# rec.vector_plan the downgrade restores (db.frozen_sql.digest): the files never change.
SHA256 = "12fc3ad4967945cc717eeb850bf93518caff91c920314edcf21c1315c3bd6e00"
SHA256_0004 = "9d4139e97edf300d27676460fda51bfe7230068f003111d06cbbe1aa4a82f6f0"

# In creation order: the two after rec._vector_plan call it.
OBJECTS = ("rec._vector_plan", "rec.vector_plan", "rec.semantic")


def upgrade() -> None:
    sql = frozen_sql.load("0010", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])
    op.execute("GRANT EXECUTE ON FUNCTION rec._vector_plan(integer, text) TO pgrec_analyst")


def downgrade() -> None:
    before = frozen_sql.load("0004", SHA256_0004)
    op.execute(before["rec.vector_plan"])
    op.execute(before["rec.semantic"])
    op.execute("DROP FUNCTION rec._vector_plan(integer, text)")
