-- pgrec's measured defaults for the pgrec.* settings that rec._setting reads, and the user
-- mode's fallback coefficients that rec.ranker reads: a session's SET pgrec.<name> still
-- wins; a name not here keeps its caller's fallback. One place to re-tune a constant
-- without copying the function that uses it.
-- 0014: exact_rows_scale 600 -> 150 (docs/serving.md#the-threshold).
-- 0016: fallback_coef, rec.ranker's coefficients (bench/eval_usermode.py's grid).
-- 0017: estimate_margin 1.25 (rec._vector_plan: a filter estimated over 1.25 x the
-- threshold goes to HNSW without counting; it was 3, and at 10% of the 40k bench catalog the
-- count of 2,451 rows it threw away was a quarter of the query).
CREATE OR REPLACE FUNCTION rec._defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT '{"exact_rows_scale": 150, "estimate_margin": 1.25,
           "fallback_coef": [1.0, 0.0, 0.0, 0.03, 0.0, 0.001, 0.0, 0.0, 0.0]}'::jsonb
$$;
