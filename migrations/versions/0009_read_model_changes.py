"""read_model_changes: NOTIFY pgrec_changes with the ids of changed items, for the API's read model.

Each API worker keeps an in-memory overlay over its read model; these triggers tell it which
items to read again (inserted, updated, deleted, re-embedded), or that everything changed
(new neighbour lists, another active model). Payloads carry ids only, never data: the API
re-reads what they name, so a NOTIFY from any role cannot inject anything.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = """
-- Statement-level with transition tables: one notification per 500 ids (a payload must stay
-- under 8000 bytes), delivered at commit, so a bulk load costs a handful of notifications.
CREATE FUNCTION pgrec_send_changes(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  n integer := coalesce(cardinality(ids), 0);
  i integer := 1;
BEGIN
  WHILE i <= n LOOP
    PERFORM pg_notify('pgrec_changes', json_build_object('ids', ids[i : i + 499])::text);
    i := i + 500;
  END LOOP;
END $$;

CREATE FUNCTION pgrec_notify_item_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pgrec_send_changes((SELECT array_agg(DISTINCT o.id ORDER BY o.id) FROM old_rows o));
  ELSE
    PERFORM pgrec_send_changes((SELECT array_agg(DISTINCT n.id ORDER BY n.id) FROM new_rows n));
  END IF;
  RETURN NULL;
END $$;

-- Only the active model is served: vectors of another model stay quiet.
CREATE FUNCTION pgrec_notify_vector_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pgrec_send_changes((
      SELECT array_agg(DISTINCT o.item_id ORDER BY o.item_id) FROM old_rows o
      JOIN embedding_models m ON m.name = o.model AND m.active));
  ELSE
    PERFORM pgrec_send_changes((
      SELECT array_agg(DISTINCT n.item_id ORDER BY n.item_id) FROM new_rows n
      JOIN embedding_models m ON m.name = n.model AND m.active));
  END IF;
  RETURN NULL;
END $$;

-- New neighbour lists or another active model: the read model is rebuilt.
CREATE FUNCTION pgrec_notify_full_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pgrec_changes', json_build_object('full', TG_TABLE_NAME)::text);
  RETURN NULL;
END $$;
"""

TRIGGERS = """
CREATE TRIGGER items_changes_insert AFTER INSERT ON items
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_item_changes();
CREATE TRIGGER items_changes_update AFTER UPDATE ON items
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_item_changes();
CREATE TRIGGER items_changes_delete AFTER DELETE ON items
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_item_changes();
CREATE TRIGGER item_embeddings_changes_insert AFTER INSERT ON item_embeddings
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vector_changes();
CREATE TRIGGER item_embeddings_changes_update AFTER UPDATE ON item_embeddings
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vector_changes();
CREATE TRIGGER item_embeddings_changes_delete AFTER DELETE ON item_embeddings
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vector_changes();
CREATE TRIGGER refresh_state_changes AFTER INSERT OR UPDATE ON refresh_state
  FOR EACH ROW WHEN (NEW.job = 'neighbors')
  EXECUTE FUNCTION pgrec_notify_full_change();
CREATE TRIGGER embedding_models_changes AFTER UPDATE OF active ON embedding_models
  FOR EACH ROW WHEN (NEW.active AND NOT OLD.active)
  EXECUTE FUNCTION pgrec_notify_full_change();
"""

DROP_TRIGGERS = [
    ("items", "items_changes_insert"),
    ("items", "items_changes_update"),
    ("items", "items_changes_delete"),
    ("item_embeddings", "item_embeddings_changes_insert"),
    ("item_embeddings", "item_embeddings_changes_update"),
    ("item_embeddings", "item_embeddings_changes_delete"),
    ("refresh_state", "refresh_state_changes"),
    ("embedding_models", "embedding_models_changes"),
]


def upgrade() -> None:
    op.execute(FUNCTIONS)
    op.execute(TRIGGERS)


def downgrade() -> None:
    for table, trigger in DROP_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS pgrec_notify_full_change()")
    op.execute("DROP FUNCTION IF EXISTS pgrec_notify_vector_changes()")
    op.execute("DROP FUNCTION IF EXISTS pgrec_notify_item_changes()")
    op.execute("DROP FUNCTION IF EXISTS pgrec_send_changes(bigint[])")
