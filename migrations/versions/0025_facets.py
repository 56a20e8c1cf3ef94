"""rec.facets: the kinds, categories and tags a caller can filter on, with counts.

A caller had no way to learn the spellings the filters match (categories and tags match
exactly: "Dramas" in the Netflix catalog, "Drama" in TMDB's). rec.facets(k) lists the k most
common values of each with the number of items holding it; the API serves it as
GET /items/facets. Granted to the analyst role like every rec.* function.

The function is a frozen file in migrations/versions/sql/0025 (db/sql links to it);
migrations/README.md says how to change one.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0025 (db.frozen_sql.digest): the files never change.
SHA256 = "fcb0db0b00f4d531f5c7224313bf8c456cc89697b6276018bc5ddf5e41712f6b"


def upgrade() -> None:
    op.execute(frozen_sql.load("0025", SHA256)["rec.facets"])
    op.execute("GRANT EXECUTE ON FUNCTION rec.facets(integer) TO pgrec_analyst")


def downgrade() -> None:
    op.execute("DROP FUNCTION rec.facets(integer)")
