-- pgrec's measured defaults for the pgrec.* settings that rec._setting reads, and the user
-- mode's fallback coefficients that rec.ranker reads: a session's SET pgrec.<name> still
-- wins; a name not here keeps its caller's fallback. One place to re-tune a constant
-- without copying the function that uses it.
-- exact_rows_scale 150 (0014; was 600): the exact scan's threshold sqrt(scale x catalog),
-- re-measured at 40k and 1M (docs/serving.md#the-threshold).
-- estimate_margin 1.25 (0017; was 3): rec._vector_plan sends a filter estimated over 1.25 x
-- the threshold to HNSW without counting (at 10% of the 40k bench catalog the count of
-- 2,451 rows it threw away was a quarter of the query).
-- fallback_coef (0017): rec.ranker's coefficients on the raw features in
-- rec.ranker_features() order (cooc cooc_max hits sem sem_profile pop cat_overlap year_gap
-- fresh), and interleave 0 (rec.for_user_explained ranks by score): the argmax of
-- bench/eval_usermode.py's grid on the validation users (cooc_hits and cooc_max as knobs,
-- interleaving one too, popularity kept positive so a user with no history still gets the
-- popular items): validation HR@10 0.201 against 0.191 for 0016's interleaved weights.
CREATE OR REPLACE FUNCTION rec._defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT '{"exact_rows_scale": 150, "estimate_margin": 1.25,
           "fallback_coef": [1.0, 0.0, 0.03, 0.01, 0.0, 0.0003, 0.0, 0.0, 0.0],
           "interleave": 0}'::jsonb
$$;
