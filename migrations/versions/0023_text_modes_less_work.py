"""Terms and title modes do less work per query, with the same answers.

rec.search_terms reads one row per item holding a query term and tested every row against
the finder (the terms a pass searches with) and against `match` (what an item must match:
phrases, compound words, exclusions) with the filter. A row already holds one of the terms,
so when the finder is every term the first test is true, and when `match` is just the terms
ORed and no filter applies so is the second: both are skipped then.

rec.search_title takes a longer query (over 13 trigrams) from its first threshold straight
to its last: the two in between could only repeat the last one's answer, and each was a
scan of the trigram index. A sentence, the hybrid mode's usual title query, cost four scans
without a close title, now two.

Measured in docs/serving.md#terms-and-title-less-work-per-query-migration-0023. The
functions are frozen files in migrations/versions/sql/0023 (db/sql links to them);
migrations/README.md says how to change one.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0023 and of the baseline's folder, whose definitions the
# downgrade restores (db.frozen_sql.digest): the files never change.
SHA256 = "6d6890af44e4bdca502c7617c04dc790bd5e43d16379704d593d9b3dd3d65689"
SHA256_0016 = "2c2db84cae355b41a7c29f8366f7bf5758eed63fa9e4c7e8cddc80c983acce60"


OBJECTS = ("rec.search_terms", "rec.search_title")


def upgrade() -> None:
    sql = frozen_sql.load("0023", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])


def downgrade() -> None:
    sql = frozen_sql.load("0016", SHA256_0016)
    for name in OBJECTS:
        op.execute(sql[name])
