-- The analyst role: reads every table and view, runs every rec.* function, within limits.
-- Runs after schema rec is filled: the grants name what exists.

-- Roles are cluster-wide and several databases (the test clones) share one server: create the
-- role if missing, grant in this database only.
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

-- Limits. What holds, precisely (Postgres lets every role `SET statement_timeout` in its
-- session and `ALTER ROLE <itself> SET ...`; a `SET` clause on a function does not re-arm the
-- timer of the statement that called it, so neither can bound an analyst on its own):
--
-- - pgrec_analyst gets statement_timeout, idle_in_transaction_session_timeout (for this
--   database) and a connection limit. The connection limit needs CREATEROLE to change, so an
--   analyst cannot lift it. Members granted `WITH INHERIT TRUE, SET FALSE` cannot act as
--   pgrec_analyst, so their `ALTER ROLE pgrec_analyst ...` fails.
-- - `pgrec_enforce_analyst_limits()` (owner only; the API calls it every few seconds) cancels
--   analyst statements running longer than the limit and ends sessions idle in a transaction
--   longer than theirs, whatever the session set for itself.
-- - rec.* functions refuse oversized inputs (id arrays, filter lists, title queries) with
--   SQLSTATE 22023 naming the argument, before doing any work.
DO $$
BEGIN
  EXECUTE format('ALTER ROLE pgrec_analyst IN DATABASE %I SET statement_timeout = %L',
                 current_database(), '30s');
  EXECUTE format('ALTER ROLE pgrec_analyst IN DATABASE %I '
                 'SET idle_in_transaction_session_timeout = %L',
                 current_database(), '60s');
END $$;
ALTER ROLE pgrec_analyst CONNECTION LIMIT 8;

-- Sessions whose login role has pgrec_analyst's privileges (superusers and the database
-- owner excluded) in this database: statements past the limit are cancelled, sessions idle
-- in a transaction past theirs are ended. SECURITY DEFINER: signalling another role's
-- backend needs superuser or pg_signal_backend, which the migrating owner has.
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
