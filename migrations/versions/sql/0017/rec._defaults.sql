-- pgrec's measured defaults for the pgrec.* settings that rec._setting reads, and the user
-- mode's fallback coefficients that rec.ranker reads: a session's SET pgrec.<name> still
-- wins; a name not here keeps its caller's fallback. One place to re-tune a constant
-- without copying the function that uses it.
-- 0014: exact_rows_scale 600 -> 150 (docs/serving.md#the-threshold).
-- 0016: fallback_coef, rec.ranker's coefficients (bench/eval_usermode.py's grid).
-- 0017: the HNSW path's beam follows the filter's selectivity (rec._vector_plan):
-- ef_search = candidates x ef_per_candidate / selectivity, at least ef_search_min (40; it
-- was a flat 200); a filter estimated over estimate_margin (1.25; it was 3) x the threshold
-- skips the collection. Fitted with bench/filtered_probe.py on the 40k bench catalog:
-- recall@10 >= 0.98 at 50% and 10% alone and combined, at about half the CPU time.
CREATE OR REPLACE FUNCTION rec._defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT '{"exact_rows_scale": 150, "ef_search_min": 40, "ef_per_candidate": 0.5,
           "estimate_margin": 1.25,
           "fallback_coef": [1.0, 0.0, 0.0, 0.03, 0.0, 0.001, 0.0, 0.0, 0.0]}'::jsonb
$$;
