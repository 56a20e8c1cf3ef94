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

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENT_TIMEOUT = "30s"
IDLE_IN_TRANSACTION_TIMEOUT = "60s"
CONNECTION_LIMIT = 8
MAX_IDS = 10000  # ids in one array argument (the API sends at most 1,000)
MAX_LIST = 1000  # values of one text filter
MAX_QUERY = 1000  # characters of a title query

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

CAPS = f"""
-- Too many values for one argument: 22023 naming it, before any work is done.
CREATE FUNCTION rec._check_size(key text, n integer, max integer) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF coalesce(n, 0) > max THEN
    RAISE EXCEPTION 'invalid %: % values (at most %)', key, n, max
      USING ERRCODE = '22023', COLUMN = key;
  END IF;
  RETURN true;
END $$;

CREATE OR REPLACE FUNCTION rec._text_array(key text, val jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(val) <> 'array' OR EXISTS (
      SELECT 1 FROM jsonb_array_elements(val) x WHERE jsonb_typeof(x) <> 'string') THEN
    PERFORM rec._bad(key, val, 'an array of strings');
  END IF;
  PERFORM rec._check_size(key, jsonb_array_length(val), {MAX_LIST});
  RETURN ARRAY(SELECT jsonb_array_elements_text(val));
END $$;

CREATE OR REPLACE FUNCTION rec._id_array(key text, val jsonb) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(val) = 'array' THEN
    PERFORM rec._check_size(key, jsonb_array_length(val), {MAX_IDS});
  END IF;
  IF jsonb_typeof(val) <> 'array' OR EXISTS (
      SELECT 1 FROM jsonb_array_elements(val) x
      WHERE jsonb_typeof(x) <> 'number' OR x::numeric <> trunc(x::numeric)
         OR abs(x::numeric) > 9223372036854775807) THEN
    PERFORM rec._bad(key, val, 'an array of integer item ids');
  END IF;
  RETURN ARRAY(SELECT x::numeric::bigint FROM jsonb_array_elements(val) x);
END $$;

CREATE OR REPLACE FUNCTION rec._exclude(filters jsonb, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  f jsonb := coalesce(filters, '{{}}');
BEGIN
  PERFORM rec._check_size('ids', cardinality(ids), {MAX_IDS});
  PERFORM rec.filter_sql(f);  -- validate first: the error must name the caller's value
  RETURN jsonb_set(f, '{{exclude_ids}}', to_jsonb(
    coalesce(rec._id_array('exclude_ids',
                           coalesce(nullif(f -> 'exclude_ids', 'null'), '[]')), '{{}}')
    || coalesce(ids, '{{}}')));
END $$;

CREATE OR REPLACE FUNCTION rec.missing_items(ids bigint[], model text DEFAULT NULL) RETURNS bigint[]
LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT coalesce(array_agg(u.id ORDER BY u.pos), '{{}}')
  FROM (SELECT x.id, min(x.pos) AS pos FROM unnest(ids) WITH ORDINALITY x(id, pos)
        WHERE rec._check_size('ids', cardinality(ids), {MAX_IDS})
        GROUP BY x.id) u
  WHERE NOT EXISTS (
    SELECT 1 FROM public.item_embeddings e
    WHERE e.item_id = u.id
      AND e.model = (SELECT r.name FROM rec.resolve_model(missing_items.model) r))
$$;

CREATE OR REPLACE FUNCTION rec._mean(ids bigint[], weights jsonb, model_name text, dim integer)
RETURNS vector LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT CASE WHEN count(*) > 0 THEN
           sum(array_fill(x.w, ARRAY[dim])::vector * e.embedding)
           * array_fill((1 / sum(x.w))::real, ARRAY[dim])::vector
         END
  FROM (SELECT DISTINCT u.id, coalesce((weights ->> u.id::text)::real, 1) AS w
        FROM unnest(ids) u(id)
        WHERE rec._check_size('ids', cardinality(ids), {MAX_IDS})) x
  JOIN public.item_embeddings e ON e.item_id = x.id AND e.model = model_name
$$;

CREATE OR REPLACE FUNCTION rec.search_title(q text, k integer, filters jsonb DEFAULT '{{}}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE
SET search_path = public SET pg_trgm.word_similarity_threshold = '0.3'
AS $$
BEGIN
  PERFORM rec._check_k(k);
  IF length(q) > {MAX_QUERY} THEN
    RAISE EXCEPTION 'invalid q: % characters (at most {MAX_QUERY})', length(q)
      USING ERRCODE = '22023', COLUMN = 'q';
  END IF;
  RETURN QUERY EXECUTE format($f$
    SELECT i.id, ((similarity($1, public.pgrec_norm_title(i.title))
                   + word_similarity($1, public.pgrec_norm_title(i.title))) / 2)::real AS score
    FROM public.items i
    WHERE $1 <%% public.pgrec_norm_title(i.title) AND %s
    ORDER BY score DESC, i.popularity DESC, i.id
    LIMIT $2$f$, rec.filter_sql(filters)) USING public.pgrec_norm_title(q), k;
END $$;
"""

# 0005's rec._mean and 0004's others, as they were (the downgrade restores them).
CAPS_DOWN = r"""
CREATE OR REPLACE FUNCTION rec._text_array(key text, val jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(val) <> 'array' OR EXISTS (
      SELECT 1 FROM jsonb_array_elements(val) x WHERE jsonb_typeof(x) <> 'string') THEN
    PERFORM rec._bad(key, val, 'an array of strings');
  END IF;
  RETURN ARRAY(SELECT jsonb_array_elements_text(val));
END $$;

CREATE OR REPLACE FUNCTION rec._id_array(key text, val jsonb) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(val) <> 'array' OR EXISTS (
      SELECT 1 FROM jsonb_array_elements(val) x
      WHERE jsonb_typeof(x) <> 'number' OR x::numeric <> trunc(x::numeric)
         OR abs(x::numeric) > 9223372036854775807) THEN
    PERFORM rec._bad(key, val, 'an array of integer item ids');
  END IF;
  RETURN ARRAY(SELECT x::numeric::bigint FROM jsonb_array_elements(val) x);
END $$;

CREATE OR REPLACE FUNCTION rec._exclude(filters jsonb, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  f jsonb := coalesce(filters, '{}');
BEGIN
  PERFORM rec.filter_sql(f);  -- validate first: the error must name the caller's value
  RETURN jsonb_set(f, '{exclude_ids}', to_jsonb(
    coalesce(rec._id_array('exclude_ids', coalesce(nullif(f -> 'exclude_ids', 'null'), '[]')), '{}')
    || coalesce(ids, '{}')));
END $$;

CREATE OR REPLACE FUNCTION rec.missing_items(ids bigint[], model text DEFAULT NULL) RETURNS bigint[]
LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT coalesce(array_agg(u.id ORDER BY u.pos), '{}')
  FROM (SELECT x.id, min(x.pos) AS pos FROM unnest(ids) WITH ORDINALITY x(id, pos)
        GROUP BY x.id) u
  WHERE NOT EXISTS (
    SELECT 1 FROM public.item_embeddings e
    WHERE e.item_id = u.id
      AND e.model = (SELECT r.name FROM rec.resolve_model(missing_items.model) r))
$$;

CREATE OR REPLACE FUNCTION rec._mean(ids bigint[], weights jsonb, model_name text, dim integer)
RETURNS vector LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT CASE WHEN count(*) > 0 THEN
           sum(array_fill(x.w, ARRAY[dim])::vector * e.embedding)
           * array_fill((1 / sum(x.w))::real, ARRAY[dim])::vector
         END
  FROM (SELECT DISTINCT u.id, coalesce((weights ->> u.id::text)::real, 1) AS w
        FROM unnest(ids) u(id)) x
  JOIN public.item_embeddings e ON e.item_id = x.id AND e.model = model_name
$$;

CREATE OR REPLACE FUNCTION rec.search_title(q text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE
SET search_path = public SET pg_trgm.word_similarity_threshold = '0.3'
AS $$
BEGIN
  PERFORM rec._check_k(k);
  RETURN QUERY EXECUTE format($f$
    SELECT i.id, ((similarity($1, public.pgrec_norm_title(i.title))
                   + word_similarity($1, public.pgrec_norm_title(i.title))) / 2)::real AS score
    FROM public.items i
    WHERE $1 <%% public.pgrec_norm_title(i.title) AND %s
    ORDER BY score DESC, i.popularity DESC, i.id
    LIMIT $2$f$, rec.filter_sql(filters)) USING public.pgrec_norm_title(q), k;
END $$;

DROP FUNCTION rec._check_size(text, integer, integer);
"""


def upgrade() -> None:
    op.execute(ROLE_LIMITS)
    op.execute(WATCHDOG)
    op.execute(CAPS)
    op.execute("GRANT EXECUTE ON FUNCTION rec._check_size(text, integer, integer) TO pgrec_analyst")


def downgrade() -> None:
    op.execute(CAPS_DOWN)
    op.execute("DROP FUNCTION public.pgrec_enforce_analyst_limits(interval, interval)")
    op.execute(ROLE_LIMITS_DOWN)
