"""planner defaults: the exact scan's threshold re-fitted at 40k and 1M items.

rec._vector_plan sends a filtered vector query to an exact scan when at most
sqrt(pgrec.exact_rows_scale x catalog) rows match, with a scale of 600 fitted at 40k items
on a server with 128 MB of shared_buffers. Measured again at 40k and 1M with the embedded
server's memory sized to the machine (db/embedded_tuning.py), HNSW's iterative scan is the
cheaper path from a lower row count (docs/serving.md#the-threshold).

The constant is not copied into a new rec._vector_plan: rec._setting, which it already
calls, now consults rec._defaults() (pgrec's measured defaults, a jsonb of setting ->
value) before its caller's fallback; a session's SET pgrec.<name> still wins. Re-tuning a
constant later redefines only rec._defaults.

The functions are frozen files in migrations/versions/sql/0014 (db/sql links to them);
migrations/README.md says how to change one.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0014 and of 0004's, whose rec._setting the downgrade
# restores (db.frozen_sql.digest): the files never change.
SHA256 = "e13be565d8d8245ae73026aeb1c4d919d38a1a1ec3fbd5652e42daeac54f5199"
SHA256_0004 = "9d4139e97edf300d27676460fda51bfe7230068f003111d06cbbe1aa4a82f6f0"

# In creation order: rec._setting calls rec._defaults.
OBJECTS = ("rec._defaults", "rec._setting")


def upgrade() -> None:
    sql = frozen_sql.load("0014", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])
    op.execute("GRANT EXECUTE ON FUNCTION rec._defaults() TO pgrec_analyst")


def downgrade() -> None:
    op.execute(frozen_sql.load("0004", SHA256_0004)["rec._setting"])
    op.execute("DROP FUNCTION rec._defaults()")
