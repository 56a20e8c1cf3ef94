"""Embedding jobs: job runs, wake-up NOTIFY triggers, vector versions, the status view.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Workers LISTEN on pgrec_items; API processes LISTEN on pgrec_vectors. Payloads are JSON.
FUNCTIONS = """
-- Statement-level and payload-free on purpose: PostgreSQL folds identical notifications of
-- one transaction into one, so a bulk load wakes each worker once, not once per row.
CREATE FUNCTION pgrec_notify_items() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pgrec_items', '');
  RETURN NULL;
END $$;

-- Tell API processes that the active model's vectors changed: once per model and
-- transaction (a transaction-local setting remembers what was sent), delivered at commit,
-- carrying a fresh value of a global counter that a process can also read at start-up.
CREATE FUNCTION pgrec_announce_vectors(changed_model text, reason text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  sent text := coalesce(current_setting('pgrec.vectors_announced', true), '');
  tag text := '|' || changed_model || '|';
BEGIN
  IF position(tag IN sent) > 0 THEN
    RETURN;
  END IF;
  PERFORM set_config('pgrec.vectors_announced', sent || tag, true);
  PERFORM pg_notify('pgrec_vectors', json_build_object(
    'model', changed_model,
    'version', nextval('pgrec_vectors_version'),
    'reason', reason)::text);
END $$;

CREATE FUNCTION pgrec_notify_vectors() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  m text;
BEGIN
  -- Only the active model is served; filling a new model side by side stays quiet.
  IF TG_OP = 'DELETE' THEN
    FOR m IN SELECT DISTINCT o.model FROM old_rows o
             JOIN embedding_models em ON em.name = o.model AND em.active LOOP
      PERFORM pgrec_announce_vectors(m, 'vectors');
    END LOOP;
  ELSE
    FOR m IN SELECT DISTINCT n.model FROM new_rows n
             JOIN embedding_models em ON em.name = n.model AND em.active LOOP
      PERFORM pgrec_announce_vectors(m, 'vectors');
    END LOOP;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION pgrec_notify_model_switch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgrec_announce_vectors(NEW.name, 'activated');
  RETURN NULL;
END $$;
"""

TRIGGERS = """
CREATE TRIGGER items_notify_insert AFTER INSERT ON items
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_items();
CREATE TRIGGER items_notify_update AFTER UPDATE OF title, categories, tags, description
  ON items FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_items();

CREATE TRIGGER item_embeddings_notify_insert AFTER INSERT ON item_embeddings
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vectors();
CREATE TRIGGER item_embeddings_notify_update AFTER UPDATE ON item_embeddings
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vectors();
CREATE TRIGGER item_embeddings_notify_delete AFTER DELETE ON item_embeddings
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vectors();

CREATE TRIGGER embedding_models_notify_switch AFTER UPDATE OF active ON embedding_models
  FOR EACH ROW WHEN (NEW.active AND NOT OLD.active)
  EXECUTE FUNCTION pgrec_notify_model_switch();
"""

# Per model: how many items there are, how many have a vector of their current text, how
# many still need one, and the latest embedding run (rate counts busy time, not idle time).
STATUS_VIEW = """
CREATE VIEW embedding_status AS
SELECT m.name AS model,
       m.dim,
       m.active,
       n.items,
       c.embedded,
       n.items - c.embedded AS needed,
       CASE WHEN n.items = 0 THEN 100.0
            ELSE round(100.0 * c.embedded / n.items, 2) END AS coverage_pct,
       r.last_run_at,
       r.last_run_items,
       r.last_run_rate
FROM embedding_models m
CROSS JOIN (SELECT count(*) AS items FROM items) n
CROSS JOIN LATERAL (
  SELECT count(*) AS embedded
  FROM item_embeddings e JOIN items i ON i.id = e.item_id AND i.content_hash = e.content_hash
  WHERE e.model = m.name) c
LEFT JOIN LATERAL (
  SELECT coalesce(j.finished_at, j.heartbeat_at) AS last_run_at,
         j.items AS last_run_items,
         round((j.items / nullif(j.busy_seconds, 0))::numeric, 1) AS last_run_rate
  FROM job_runs j
  WHERE j.model = m.name AND j.job IN ('embed', 'worker')
  ORDER BY j.started_at DESC, j.id DESC
  LIMIT 1) r ON true
"""


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="running", nullable=False),
        sa.Column("host", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "heartbeat_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("items", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("busy_seconds", sa.REAL(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'ok', 'failed', 'interrupted')",
            name=op.f("ck_job_runs_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index("ix_job_runs_model_started", "job_runs", ["model", "started_at"])
    op.execute("CREATE SEQUENCE pgrec_vectors_version")
    op.execute(FUNCTIONS)
    op.execute(TRIGGERS)
    op.execute(STATUS_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS embedding_status")
    op.execute("DROP TRIGGER IF EXISTS embedding_models_notify_switch ON embedding_models")
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS item_embeddings_notify_{event} ON item_embeddings")
    op.execute("DROP TRIGGER IF EXISTS items_notify_update ON items")
    op.execute("DROP TRIGGER IF EXISTS items_notify_insert ON items")
    op.execute("DROP FUNCTION IF EXISTS pgrec_notify_model_switch()")
    op.execute("DROP FUNCTION IF EXISTS pgrec_notify_vectors()")
    op.execute("DROP FUNCTION IF EXISTS pgrec_announce_vectors(text, text)")
    op.execute("DROP FUNCTION IF EXISTS pgrec_notify_items()")
    op.execute("DROP SEQUENCE IF EXISTS pgrec_vectors_version")
    op.drop_index("ix_job_runs_model_started", table_name="job_runs")
    op.drop_table("job_runs")
