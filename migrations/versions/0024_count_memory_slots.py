"""The planner remembers filters in a bounded number of slots, also across rollbacks.

Migration 0022 bounded the filters a session remembers (0020) by counting them in another
setting. A rollback undoes the count and the value but leaves the setting's name behind
(a custom setting, once named, lives as long as the session), so a session whose
transactions roll back, as the API's threaded reads do, could still name one setting per
filter. rec._vector_plan now remembers a filter in slot hash(filter) mod
pgrec.count_memory_max (default 1,000), whose value is the filter's md5 and the time: a
session never names more settings than that. Two filters on one slot forget each other.

The function is a frozen file in migrations/versions/sql/0024 (db/sql links to it);
migrations/README.md says how to change one.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0024 and of 0022's folder, whose definition the
# downgrade restores (db.frozen_sql.digest): the files never change.
SHA256 = "a944c2e44c2ef7c76bdb09b4bc211afca5ccd578779782b981fd741f5e8b4065"
SHA256_0022 = "f0578546102554d43db78c24f7cb19422a7f0b4478ac13f6f99d670e378f4ccc"


def upgrade() -> None:
    op.execute(frozen_sql.load("0024", SHA256)["rec._vector_plan"])


def downgrade() -> None:
    op.execute(frozen_sql.load("0022", SHA256_0022)["rec._vector_plan"])
