-- A pgrec.* setting: the session's value, else pgrec's default (rec._defaults), else the
-- caller's fallback.
CREATE OR REPLACE FUNCTION rec._setting(name text, fallback double precision) RETURNS double precision
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('pgrec.' || name, true), '')::double precision,
                  (rec._defaults() ->> name)::double precision, fallback)
$$;
