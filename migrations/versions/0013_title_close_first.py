"""title close first: rec.search_title tries close matches before loose ones.

rec.search_title (0006) took every title whose word similarity to the query reached 0.3. A
short query's common word qualifies on its own at that threshold ("the" is 4 of the 12
trigrams of "the sessins"): about a quarter of the catalog was read and scored for such a
query, the slow tail of the title mode. Now the threshold starts at 0.6 and steps down to
0.5, 0.4 and the former 0.3. A step answers with the former list when its k-th title scores
at least its threshold; with the former titles scoring that much (the top one among them)
and no loose tail when its best title does, at 0.6 or for a short query (13 trigrams at
most). A longer query (a description) keeps the former list. The frozen file says why.
Same signature and grants; the GIN index on pgrec_norm_title(title) serves every step.

The function is a frozen file in migrations/versions/sql/0013 (db/sql links to it);
migrations/README.md says how to change one.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0013 and of 0006's, whose rec.search_title the downgrade
# restores (db.frozen_sql.digest): the files never change.
SHA256 = "a762851d8057dc39db571c52c729fec96c7df5c7ee47647e85a901b300eed983"
SHA256_0006 = "8249ff082dd74d1577d867f9d411e2f34a0d14f5f8ed173f62640395f0c025d4"


def upgrade() -> None:
    op.execute(frozen_sql.load("0013", SHA256)["rec.search_title"])


def downgrade() -> None:
    op.execute(frozen_sql.load("0006", SHA256_0006)["rec.search_title"])
