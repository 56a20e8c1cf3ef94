"""user mode by score: rec._defaults' fallback weights re-tuned, interleaving off by default.

bench/eval_usermode.py's grid on the validation users now also weighs cooc_hits and cooc_max
and treats interleaving as a knob (popularity kept positive: it is all a user without history
is ranked by): its argmax ranks by score (cooc 1, cooc_hits 0.03, sem 0.01, pop 0.0003),
validation HR@10 0.201 where 0016's interleaved weights score 0.191.
Only rec._defaults changes (fallback_coef, and interleave 0, which rec.for_user_explained
reads through rec._setting; SET pgrec.interleave = 1 brings the interleaving back).

The function is a frozen file in migrations/versions/sql/0018 (db/sql links to it);
migrations/README.md says how to change one.

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0018, and of 0016's, whose rec._defaults the downgrade
# restores (db.frozen_sql.digest): the files never change.
SHA256 = "9b8ca7c2c5cbedf4883172938ef864adcbe59e4a4320f7f63da618c1994e5b94"
SHA256_0016 = "2c2db84cae355b41a7c29f8366f7bf5758eed63fa9e4c7e8cddc80c983acce60"


def upgrade() -> None:
    op.execute(frozen_sql.load("0018", SHA256)["rec._defaults"])


def downgrade() -> None:
    op.execute(frozen_sql.load("0016", SHA256_0016)["rec._defaults"])
