"""The filtered planner answers a counted filter exactly up to the margin.

rec._vector_plan counts the matching rows of a filter the planner does not estimate well
over the exact scan's threshold (pgrec.estimate_margin, 1.25x). It counted up to the
threshold and, when the count went over it, threw the collected ids away and started an
HNSW scan: near the threshold both paths cost about the same, so the count was paid for
nothing. It now counts up to the margin and answers exactly whenever the count stays
within it. On the 40k bench catalog, `10% + year >= 2010` (2,613 matching rows against a
threshold of 2,450) went from 14.6 to 11.2 ms of backend CPU per query with recall@10 1.0
both ways (docs/serving.md#counted-filters-answer-exactly-up-to-the-margin). Other filters
take the plan they took.

rec.vector_plan is unchanged but for the comment that says what `matching` shows.

The functions are frozen files in migrations/versions/sql/0018 (db/sql links to them);
migrations/README.md says how to change one.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0018 and of the folders whose definitions the downgrade
# restores (db.frozen_sql.digest): the files never change.
SHA256 = "801edcee9744a1495d3019705b25cbadad8251790093dae1ced9cb60c0b8d1f6"
SHA256_0017 = "9b4b2d790d02d5684986aa40d4eeddc7dc731261222279c23a5c0e46dded8067"
SHA256_0016 = "2c2db84cae355b41a7c29f8366f7bf5758eed63fa9e4c7e8cddc80c983acce60"

OBJECTS = ("rec._vector_plan", "rec.vector_plan")


def upgrade() -> None:
    sql = frozen_sql.load("0018", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])


def downgrade() -> None:
    op.execute(frozen_sql.load("0017", SHA256_0017)["rec._vector_plan"])
    op.execute(frozen_sql.load("0016", SHA256_0016)["rec.vector_plan"])
