-- pgrec's measured defaults for the pgrec.* settings that rec._setting reads: a session's
-- SET pgrec.<name> still wins; a name not here keeps its caller's fallback. One place to
-- re-tune a constant without copying the function that uses it.
-- 0014: exact_rows_scale 600 -> 150: the exact scan's threshold sqrt(scale x catalog) was
-- fitted at 40k items with shared_buffers at 128 MB; re-measured at 40k and 1M
-- (docs/serving.md#the-threshold), HNSW's iterative scan is cheaper from
-- about sqrt(150 x catalog) matching rows (2,450 at 40k, 12,250 at 1M).
CREATE OR REPLACE FUNCTION rec._defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT '{"exact_rows_scale": 150}'::jsonb
$$;
