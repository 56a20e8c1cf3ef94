CREATE OR REPLACE FUNCTION rec._setting(name text, fallback double precision) RETURNS double precision
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('pgrec.' || name, true), '')::double precision, fallback)
$$;
