"""relevance: terms mode ranks any-term matches by BM25 over weighted fields; also-liked.

rec.search_terms (0004) ANDed every word (websearch_to_tsquery), so natural queries of three
or more words matched nothing. Here plain words match items holding ANY of them, ranked by
BM25 over the fields of items.search_tsv (title A, categories and tags B, description C);
quoted phrases, `-exclusions` and `or` keep their web-search meaning (docs/analysts.md).
rec.parse_terms shows how a query is read. rec.also_liked is "people who liked these also
liked" over a set of items, the co-occurrence half of more-like-these.

The functions are frozen files in migrations/versions/sql/0007 (db/sql links to them);
migrations/README.md says how to change one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# sha256 of migrations/versions/sql/0007 and of 0004's, whose rec.search_terms the downgrade
# restores (db.frozen_sql.digest): the files never change.
SHA256 = "6f3f8ba13c920d317dcbb3cb3689c2efc507a6c51de21d354715d057c8c2805d"
SHA256_0004 = "9d4139e97edf300d27676460fda51bfe7230068f003111d06cbbe1aa4a82f6f0"

# In creation order: rec.search_terms calls the two before it.
OBJECTS = ("rec._lexeme_query", "rec.parse_terms", "rec.search_terms", "rec.also_liked")

GRANTS = """
GRANT EXECUTE ON FUNCTION rec._lexeme_query(text, text), rec.parse_terms(text),
  rec.also_liked(bigint[], integer, jsonb) TO pgrec_analyst;
"""


def upgrade() -> None:
    sql = frozen_sql.load("0007", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute("DROP FUNCTION rec.also_liked(bigint[], integer, jsonb)")
    op.execute(frozen_sql.load("0004", SHA256_0004)["rec.search_terms"])
    op.execute("DROP FUNCTION rec.parse_terms(text)")
    op.execute("DROP FUNCTION rec._lexeme_query(text, text)")
