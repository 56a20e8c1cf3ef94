"""Online metrics from rollups: impressions per hour and an item's last serving.

The CTR, conversion and coverage gauges (refreshed every minute in every API worker), the
console and `pgrec impressions stats` read every impression of their window (24 h by default):
at 1M impressions, a day at ~12 lists/s, one refresh cost 3.4 s of Postgres CPU. Now a
statement trigger on impressions keeps `impression_counts` (impressions per UTC hour, mode
and variant) and `item_last_served` (to the minute), backfilled here; the gauges read those,
the partial first hour of the window from impressions, and the clicks and purchases that
name a served list through a new index on their time (docs/online.md).

The analysts' views (rec.impression_outcomes, rec.served_coverage_daily...) are unchanged.

Upgrade note: the backfill reads every retained impression once, and the API's impression
writes wait for it (about 2 s per million impressions; the API queues up to
PGREC_IMPRESSION_QUEUE lists meanwhile, and drops, counted, beyond). With tens of millions
retained, prune first (`pgrec impressions prune`) or migrate at a quiet hour. The index on
interactions is built CONCURRENTLY, outside the transaction: interaction writes go on.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0019 (db.frozen_sql.digest): the files never change.
SHA256 = "70e7f63ea0ce92d383682418874ddf11aa00e3ac177319daa0acb385cf1d7be7"


def upgrade() -> None:
    sql = frozen_sql.load("0019", SHA256)
    # Built without blocking the writers of interactions, outside the migration's transaction.
    with op.get_context().autocommit_block():
        op.execute(sql["schema.online_events_index"])
    # Writers of impressions wait for the trigger and the backfill (~2 s per million rows).
    op.execute(sql["schema.online_rollups"])


def downgrade() -> None:
    op.execute("DROP TRIGGER impressions_roll_up ON impressions")
    op.execute("DROP FUNCTION impressions_roll_up()")
    op.execute("DROP INDEX ix_interactions_request_time")
    op.drop_table("item_last_served")
    op.drop_table("impression_counts")
