"""The user mode's category overlap is computed once; the planner's memory is bounded.

rec.user_candidates: the `cats` CTE (the share of each category among the user's likes) is
MATERIALIZED. Named once, PostgreSQL inlined it into the per-candidate category overlap
and re-ran it for every candidate (200 candidates x 28 likes = 5,500 item lookups per
call): rec.for_user_explained took 25.5 ms on the 40k bench catalog, 16.2 ms now, with the
same answers (docs/serving.md#the-user-mode-in-postgres-session-12).

rec._vector_plan: a session remembers at most pgrec.count_memory_max (default 1,000)
filters that it counted over the margin (0020). Each is a custom setting kept for the
session's life, so ever new broad filters that the planner underestimates would have
grown a pooled connection's memory without end.

The functions are frozen files in migrations/versions/sql/0022 (db/sql links to them);
migrations/README.md says how to change one.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0022 and of the folders whose definitions the downgrade
# restores (db.frozen_sql.digest): the files never change.
SHA256 = "f0578546102554d43db78c24f7cb19422a7f0b4478ac13f6f99d670e378f4ccc"
SHA256_0020 = "791dc13afcb6203d25c91431bd220bf4e69057966cde1e89ad09583bad2038f8"
SHA256_0016 = "2c2db84cae355b41a7c29f8366f7bf5758eed63fa9e4c7e8cddc80c983acce60"

OBJECTS = ("rec._vector_plan", "rec.user_candidates")


def upgrade() -> None:
    sql = frozen_sql.load("0022", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])


def downgrade() -> None:
    op.execute(frozen_sql.load("0020", SHA256_0020)["rec._vector_plan"])
    op.execute(frozen_sql.load("0016", SHA256_0016)["rec.user_candidates"])
