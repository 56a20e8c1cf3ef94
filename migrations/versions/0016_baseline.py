"""baseline: the whole schema of pgrec as of revision 0016, in one step.

Revisions 0001 to 0016 were squashed into this one (migrations/README.md#the-baseline): a
database at 0016 goes on from here unchanged, an empty one gets the same schema at once, and
one at an older revision is refused (migrations/env.py says to upgrade it with the previous
release first). Everything is SQL, frozen in migrations/versions/sql/0016: the tables and
their triggers in schema.*.sql, every rec.* function and view in a file of its own (db/sql
links to them).

Revision ID: 0016
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0016"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0016 (db.frozen_sql.digest): the files never change.
SHA256 = "2c2db84cae355b41a7c29f8366f7bf5758eed63fa9e4c7e8cddc80c983acce60"

# Tables, indexes, triggers and their functions, in schema public.
TABLES = ("schema.catalog", "schema.derived", "schema.notify")

# In creation order: SQL-language functions and views need what they name to exist.
OBJECTS = (
    "rec._defaults",
    "rec._setting",
    "rec._check_size",
    "rec._bad",
    "rec._text_array",
    "rec._id_array",
    "rec._number",
    "rec.filter_sql",
    "rec._exclude",
    "rec._check_k",
    "rec.resolve_model",
    "rec._vector_plan",
    "rec.vector_plan",
    "rec.semantic",
    "rec.similar_items",
    "rec.missing_items",
    "rec._mean",
    "rec.more_like_vector",
    "rec.more_like",
    "rec.event_weight",
    "rec.user_profile",
    "rec._lexeme_query",
    "rec.parse_terms",
    "rec.search_terms",
    "rec.search_title",
    "rec.popular",
    "rec.cooccurring",
    "rec.also_liked",
    "rec.user_history",
    "rec.user_interests",
    "rec.ranker_features",
    "rec._feature_sources",
    "rec.user_candidates",
    "rec.ranker",
    "rec.for_user_explained",
    "rec._titles",
    "rec._in_category",
    "rec.for_user",
    "rec.for_user_centroid",
    "rec.item_neighbors_v",
    "rec.clusters_v",
    "rec.item_clusters_v",
    "rec.item_cooccurrence_v",
    "rec.impression_items",
    "rec.impression_outcomes",
    "rec.online_ctr",
    "rec.served_coverage_daily",
    "rec.impression_quality",
)

SCHEMA = """
CREATE SCHEMA rec;
COMMENT ON SCHEMA rec IS 'pgrec retrieval functions and views (docs/analysts.md)';
"""

# The tables' triggers and the views go with their tables.
DROP = """
DROP SCHEMA rec CASCADE;
DROP VIEW embedding_status;
DROP TABLE job_state, ranking_models, item_stats, item_collaborative, item_cooccurrence,
  refresh_state, clusters, item_clusters, item_neighbors, job_runs, impressions,
  interactions, item_embeddings, embedding_models, items;
DROP SEQUENCE pgrec_vectors_version;
DROP FUNCTION pgrec_enforce_analyst_limits(interval, interval), pgrec_notify_full_change(),
  pgrec_notify_vector_changes(), pgrec_notify_item_changes(), pgrec_send_changes(bigint[]),
  pgrec_notify_model_switch(), pgrec_notify_vectors(), pgrec_announce_vectors(text, text),
  pgrec_notify_items(), pgrec_check_one_active_model(), pgrec_touch_updated_at(),
  pgrec_norm_title(text), pgrec_array_text(text[]),
  pgrec_embed_text(text, text[], text[], text);
"""

# Roles are cluster-wide: this database's grants and settings go; the role itself goes with
# the last database that grants to it. Extensions stay: other schemas may use them.
DROP_ROLE = """
DO $$
BEGIN
  EXECUTE format('ALTER ROLE pgrec_analyst IN DATABASE %I RESET statement_timeout',
                 current_database());
  EXECUTE format('ALTER ROLE pgrec_analyst IN DATABASE %I '
                 'RESET idle_in_transaction_session_timeout', current_database());
  ALTER ROLE pgrec_analyst CONNECTION LIMIT -1;
  DROP OWNED BY pgrec_analyst;
  BEGIN
    DROP ROLE pgrec_analyst;
  EXCEPTION WHEN dependent_objects_still_exist THEN
    NULL;  -- other databases still grant to it; the last one to downgrade drops it
  END;
END $$;
"""


def upgrade() -> None:
    sql = frozen_sql.load("0016", SHA256)
    for name in TABLES:
        op.execute(sql[name])
    op.execute(SCHEMA)
    for name in OBJECTS:
        op.execute(sql[name])
    op.execute(sql["schema.analyst"])


def downgrade() -> None:
    op.execute(DROP)
    op.execute(DROP_ROLE)
