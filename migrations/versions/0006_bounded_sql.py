"""bounded SQL: analyst role limits, a watchdog for analyst sessions, capped rec.* inputs.

What holds, precisely (Postgres lets every role `SET statement_timeout` in its session and
`ALTER ROLE <itself> SET ...`; a `SET` clause on a function does not re-arm the timer of
the statement that called it, so neither can bound an analyst on its own):

- pgrec_analyst gets statement_timeout, idle_in_transaction_session_timeout (for this
  database) and a connection limit. The connection limit needs CREATEROLE to change, so an
  analyst cannot lift it. Members granted `WITH INHERIT TRUE, SET FALSE` cannot act as
  pgrec_analyst, so their `ALTER ROLE pgrec_analyst ...` fails.
- `pgrec_enforce_analyst_limits()` (owner only; the API calls it every few seconds) cancels
  analyst statements running longer than the limit and ends sessions idle in a transaction
  longer than theirs, whatever the session set for itself.
- rec.* functions refuse oversized inputs (id arrays, filter lists, title queries) with
  SQLSTATE 22023 naming the argument, before doing any work.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from db import frozen_sql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENT_TIMEOUT = "30s"
IDLE_IN_TRANSACTION_TIMEOUT = "60s"
CONNECTION_LIMIT = 8

ROLE_LIMITS = f"""
DO $$
BEGIN
  EXECUTE format('ALTER ROLE pgrec_analyst IN DATABASE %I SET statement_timeout = %L',
                 current_database(), '{STATEMENT_TIMEOUT}');
  EXECUTE format('ALTER ROLE pgrec_analyst IN DATABASE %I '
                 'SET idle_in_transaction_session_timeout = %L',
                 current_database(), '{IDLE_IN_TRANSACTION_TIMEOUT}');
END $$;
ALTER ROLE pgrec_analyst CONNECTION LIMIT {CONNECTION_LIMIT};
"""

ROLE_LIMITS_DOWN = """
DO $$
BEGIN
  EXECUTE format('ALTER ROLE pgrec_analyst IN DATABASE %I RESET statement_timeout',
                 current_database());
  EXECUTE format('ALTER ROLE pgrec_analyst IN DATABASE %I '
                 'RESET idle_in_transaction_session_timeout', current_database());
END $$;
ALTER ROLE pgrec_analyst CONNECTION LIMIT -1;
"""

# Sessions whose login role has pgrec_analyst's privileges (superusers and the database
# owner excluded) in this database: statements past the limit are cancelled, sessions idle
# in a transaction past theirs are ended. SECURITY DEFINER: signalling another role's
# backend needs superuser or pg_signal_backend, which the migrating owner has.
WATCHDOG = """
CREATE FUNCTION public.pgrec_enforce_analyst_limits(
    max_statement interval DEFAULT '30 seconds',
    max_idle_in_transaction interval DEFAULT '60 seconds')
RETURNS TABLE(pid integer, login name, action text, for_how_long interval)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
  WITH analysts AS (
    SELECT a.pid, a.usename, a.state, now() - a.query_start AS running,
           now() - a.state_change AS idle
    FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
    WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
      AND a.datname = current_database() AND NOT r.rolsuper
      AND r.oid <> (SELECT d.datdba FROM pg_database d WHERE d.datname = current_database())
      AND pg_has_role(a.usesysid, 'pgrec_analyst', 'USAGE')
  )
  SELECT x.pid, x.usename, 'cancelled', x.running FROM analysts x
  WHERE x.state = 'active' AND x.running > max_statement AND pg_cancel_backend(x.pid)
  UNION ALL
  SELECT x.pid, x.usename, 'terminated', x.idle FROM analysts x
  WHERE x.state LIKE 'idle in transaction%' AND x.idle > max_idle_in_transaction
    AND pg_terminate_backend(x.pid)
$$;
REVOKE ALL ON FUNCTION public.pgrec_enforce_analyst_limits(interval, interval) FROM PUBLIC;
"""

# The capped rec.* functions are frozen, one file per object, in migrations/versions/sql/0006
# (rec._check_size is new, the others replace 0004's and 0005's); in creation order.
OBJECTS = (
    "rec._check_size",
    "rec._text_array",
    "rec._id_array",
    "rec._exclude",
    "rec.missing_items",
    "rec._mean",
    "rec.search_title",
)
# sha256 of migrations/versions/sql/0006, and of 0004's and 0005's, whose versions the
# downgrade restores (db.frozen_sql.digest): the files never change.
SHA256 = "8249ff082dd74d1577d867f9d411e2f34a0d14f5f8ed173f62640395f0c025d4"
SHA256_0004 = "9d4139e97edf300d27676460fda51bfe7230068f003111d06cbbe1aa4a82f6f0"
SHA256_0005 = "07c46ce97730e95e2eaacefe4d43eb40af9962133b8fa0ada133075265b5c974"


def upgrade() -> None:
    op.execute(ROLE_LIMITS)
    op.execute(WATCHDOG)
    sql = frozen_sql.load("0006", SHA256)
    for name in OBJECTS:
        op.execute(sql[name])
    op.execute("GRANT EXECUTE ON FUNCTION rec._check_size(text, integer, integer) TO pgrec_analyst")


def downgrade() -> None:
    before = frozen_sql.load("0004", SHA256_0004)
    for name in ("rec._text_array", "rec._id_array", "rec._exclude", "rec.missing_items"):
        op.execute(before[name])
    op.execute(before["rec.search_title"])
    op.execute(frozen_sql.load("0005", SHA256_0005)["rec._mean"])
    op.execute("DROP FUNCTION rec._check_size(text, integer, integer)")
    op.execute("DROP FUNCTION public.pgrec_enforce_analyst_limits(interval, interval)")
    op.execute(ROLE_LIMITS_DOWN)
