"""impressions: what the API served, request ids on interactions, online metric views, drift.

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One row per impression: a served list, its items in order (position = array index).
# A click or purchase names the request id, so outcomes join to exactly what was shown.
VIEWS = """
CREATE VIEW rec.impression_items AS
SELECT i.request_id, i.served_at, i.user_id, i.mode, i.variant, i.ranker, i.snapshot_version,
       t.item_id, t.position::integer AS position
FROM impressions i
CROSS JOIN LATERAL unnest(i.item_ids) WITH ORDINALITY AS t(item_id, position);

CREATE VIEW rec.impression_outcomes AS
SELECT i.request_id, i.served_at, i.user_id, i.mode, i.variant, i.ranker,
       cardinality(i.item_ids) AS items,
       coalesce(o.clicked, false) AS clicked,
       coalesce(o.converted, false) AS converted
FROM impressions i
LEFT JOIN LATERAL (
  SELECT bool_or(x.event = 'click') AS clicked, bool_or(x.event = 'purchase') AS converted
  FROM interactions x
  WHERE x.request_id = i.request_id AND x.item_id = ANY (i.item_ids)
) o ON true;

CREATE VIEW rec.online_ctr AS
SELECT mode, variant, count(*) AS impressions,
       count(*) FILTER (WHERE clicked) AS clicked,
       count(*) FILTER (WHERE converted) AS converted,
       (count(*) FILTER (WHERE clicked))::float8 / count(*) AS ctr,
       (count(*) FILTER (WHERE converted))::float8 / count(*) AS conversion_rate
FROM rec.impression_outcomes
GROUP BY mode, variant;

CREATE VIEW rec.served_coverage_daily AS
SELECT date_trunc('day', served_at) AS day,
       count(DISTINCT item_id) AS served_items,
       (SELECT count(*) FROM items) AS catalog_items,
       count(DISTINCT item_id)::float8 / greatest(1, (SELECT count(*) FROM items)) AS coverage
FROM rec.impression_items
GROUP BY 1;

-- diversity: mean pairwise cosine distance of a list's items (active model's vectors);
-- novelty: mean -log2 of the share of users who interacted with each item (item_stats).
CREATE VIEW rec.impression_quality AS
SELECT i.request_id, i.served_at, i.mode, i.variant,
  (SELECT avg(e1.embedding <=> e2.embedding)
     FROM unnest(i.item_ids) WITH ORDINALITY AS a(item_id, p)
     JOIN unnest(i.item_ids) WITH ORDINALITY AS b(item_id, p) ON a.p < b.p
     JOIN item_embeddings e1 ON e1.item_id = a.item_id AND e1.model = m.name
     JOIN item_embeddings e2 ON e2.item_id = b.item_id AND e2.model = m.name) AS diversity,
  (SELECT avg(-ln((coalesce(s.users, 0) + 1)::float8 / (u.users + 1)) / ln(2))
     FROM unnest(i.item_ids) AS x(item_id)
     LEFT JOIN item_stats s ON s.item_id = x.item_id) AS novelty
FROM impressions i
CROSS JOIN (SELECT name FROM embedding_models WHERE active) m
CROSS JOIN (SELECT count(DISTINCT user_id) AS users FROM interactions) u;

GRANT SELECT ON impressions TO pgrec_analyst;
GRANT SELECT ON rec.impression_items, rec.impression_outcomes, rec.online_ctr,
  rec.served_coverage_daily, rec.impression_quality TO pgrec_analyst;
"""

DROP_VIEWS = """
DROP VIEW rec.impression_quality;
DROP VIEW rec.served_coverage_daily;
DROP VIEW rec.online_ctr;
DROP VIEW rec.impression_outcomes;
DROP VIEW rec.impression_items;
"""


def upgrade() -> None:
    op.create_table(
        "impressions",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column(
            "served_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("variant", sa.Text(), nullable=False),
        sa.Column("ranker", sa.Text(), nullable=True),
        sa.Column("snapshot_version", sa.Integer(), nullable=True),
        sa.Column("item_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_impressions")),
    )
    op.create_index("ix_impressions_served_at", "impressions", ["served_at"])
    op.add_column("interactions", sa.Column("request_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_interactions_request_id",
        "interactions",
        ["request_id"],
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )
    op.add_column("embedding_models", sa.Column("neighbor_overlap", postgresql.REAL()))
    op.add_column("embedding_models", sa.Column("overlap_against", sa.Text()))
    op.add_column("embedding_models", sa.Column("overlap_checked_at", sa.DateTime(timezone=True)))
    op.execute(VIEWS)


def downgrade() -> None:
    op.execute(DROP_VIEWS)
    op.drop_column("embedding_models", "overlap_checked_at")
    op.drop_column("embedding_models", "overlap_against")
    op.drop_column("embedding_models", "neighbor_overlap")
    op.drop_index("ix_interactions_request_id", table_name="interactions")
    op.drop_column("interactions", "request_id")
    op.drop_index("ix_impressions_served_at", table_name="impressions")
    op.drop_table("impressions")
