"""fallback coefficients: rec.ranker's fallback weights read from rec._defaults.

The user mode's lists changed (jobs/ease.py: EASE columns over likes^0.1 plus sequential
transitions), and with them the argmax of bench/eval_usermode.py's grid on the validation
users: sem 0.03 where 0011 serves 0.01. rec.ranker held its coefficients inline, so every
re-tune copied the function; here it reads them from rec._defaults()'s fallback_coef, and
the next re-tune redefines only that short function.

The functions are frozen files in migrations/versions/sql/0016 (db/sql links to them);
migrations/README.md says how to change one.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0016, and of 0014's and 0011's, whose functions the
# downgrade restores (db.frozen_sql.digest): the files never change.
SHA256 = "b0e519c36b705deef619ec7b31c5505e8b9c9055e5c37d9644ad9bc25d970e77"
SHA256_0014 = "e13be565d8d8245ae73026aeb1c4d919d38a1a1ec3fbd5652e42daeac54f5199"
SHA256_0011 = "ea08e56c1ef211c6093869fbb67aa573613254dfebc173fa1c6ea0e0dbf002bb"

# In creation order: rec.ranker calls rec._defaults.
OBJECTS = ("rec._defaults", "rec.ranker")


def upgrade() -> None:
    sql = frozen_sql.load("0016", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])


def downgrade() -> None:
    op.execute(frozen_sql.load("0011", SHA256_0011)["rec.ranker"])
    op.execute(frozen_sql.load("0014", SHA256_0014)["rec._defaults"])
