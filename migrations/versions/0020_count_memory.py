"""The filtered planner remembers a filter it counted over the margin, for a minute.

rec._vector_plan counts the matching rows of a filter the planner estimates within
pgrec.estimate_margin x the exact scan's threshold; when the count goes over the margin the
ids are thrown away and HNSW answers. The estimate of an attribute filter moves by +-30%
with each ANALYZE (the planner tests a 100-value sample of the jsonb column), so after half
the ANALYZEs of the 40k bench catalog its 4,000-row filter was estimated under the margin
and counted on every query, for nothing (~3-4 ms of ~12 at c=1). The session now remembers
such a filter for pgrec.count_memory seconds (default 60) and sends it straight to HNSW
meanwhile (docs/analysts.md#how-vector-queries-are-planned). Filters that exclude ids are not
remembered: their text changes with every request.

The function is a frozen file in migrations/versions/sql/0020 (db/sql links to it);
migrations/README.md says how to change one.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0020 and of the folder whose definition the downgrade
# restores (db.frozen_sql.digest): the files never change.
SHA256 = "791dc13afcb6203d25c91431bd220bf4e69057966cde1e89ad09583bad2038f8"
SHA256_0018 = "801edcee9744a1495d3019705b25cbadad8251790093dae1ced9cb60c0b8d1f6"


def upgrade() -> None:
    op.execute(frozen_sql.load("0020", SHA256)["rec._vector_plan"])


def downgrade() -> None:
    op.execute(frozen_sql.load("0018", SHA256_0018)["rec._vector_plan"])
