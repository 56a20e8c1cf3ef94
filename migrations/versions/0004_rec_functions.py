"""Schema rec: the retrieval functions analysts and the API share, views, the analyst role.

Every mode is one SQL function returning TABLE(item_id bigint, score real), higher is better;
db/recs calls these same functions. Filters are one jsonb object turned into one WHERE clause
by rec.filter_sql, so every mode filters identically and on the real indexes. The vector
planner (rec.semantic) is described in docs/analysts.md and measured by
tests/integration/test_recall.py.

The functions and views are frozen files, one per object, in migrations/versions/sql/0004
(db/sql links to the ones still current); migrations/README.md says how to change one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0004 (db.frozen_sql.digest): the files never change.
SHA256 = "9d4139e97edf300d27676460fda51bfe7230068f003111d06cbbe1aa4a82f6f0"

# In creation order: SQL-language functions and views need what they name to exist.
OBJECTS = (
    "rec._bad",
    "rec._text_array",
    "rec._id_array",
    "rec._number",
    "rec.filter_sql",
    "rec._exclude",
    "rec._check_k",
    "rec.resolve_model",
    "rec._setting",
    "rec.vector_plan",
    "rec.semantic",
    "rec.similar_items",
    "rec.missing_items",
    "rec._mean",
    "rec.more_like_vector",
    "rec.more_like",
    "rec.event_weight",
    "rec.user_profile",
    "rec.for_user",
    "rec.search_terms",
    "rec.search_title",
    "rec.item_neighbors_v",
    "rec.clusters_v",
    "rec.item_clusters_v",
)

SCHEMA = """
CREATE SCHEMA rec;
COMMENT ON SCHEMA rec IS 'pgrec retrieval functions and views (docs/analysts.md)';
"""

# Roles are cluster-wide and several databases (the test clones) share one server: create the
# role if missing, grant in this database only.
ROLE = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgrec_analyst') THEN
    CREATE ROLE pgrec_analyst NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;  -- another database's migration created it at the same moment
END $$;
GRANT USAGE ON SCHEMA rec, public TO pgrec_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA public, rec TO pgrec_analyst;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA rec TO pgrec_analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO pgrec_analyst;
"""

DROP_ROLE = """
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgrec_analyst') THEN
    -- This database's grants (and default privileges) only.
    DROP OWNED BY pgrec_analyst;
    BEGIN
      DROP ROLE pgrec_analyst;
    EXCEPTION WHEN dependent_objects_still_exist THEN
      NULL;  -- other databases still grant to it; the last one to downgrade drops it
    END;
  END IF;
END $$;
"""


def upgrade() -> None:
    sql = frozen_sql.load("0004", SHA256)
    op.execute(SCHEMA)
    for name in OBJECTS:
        op.execute(sql[name])
    op.execute(ROLE)


def downgrade() -> None:
    op.execute("DROP SCHEMA rec CASCADE")
    op.execute(DROP_ROLE)
