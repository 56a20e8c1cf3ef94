-- pgrec's measured defaults for the pgrec.* settings that rec._setting reads, and the user
-- mode's fallback coefficients that rec.ranker reads: a session's SET pgrec.<name> still
-- wins; a name not here keeps its caller's fallback. One place to re-tune a constant
-- without copying the function that uses it.
-- 0014: exact_rows_scale 600 -> 150: the exact scan's threshold sqrt(scale x catalog) was
-- fitted at 40k items with shared_buffers at 128 MB; re-measured at 40k and 1M
-- (docs/serving.md#the-threshold), HNSW's iterative scan is cheaper from
-- about sqrt(150 x catalog) matching rows (2,450 at 40k, 12,250 at 1M).
-- 0016: fallback_coef, rec.ranker's coefficients on the raw features in rec.ranker_features()
-- order (cooc cooc_max hits sem sem_profile pop cat_overlap year_gap fresh).
-- 0018: the argmax of bench/eval_usermode.py's wider grid on the validation users (cooc_hits
-- and cooc_max as knobs, interleaving as one too, popularity kept positive so a user with
-- no history still gets the popular items): cooc 1, cooc_hits 0.03, sem 0.01, pop 0.0003,
-- and interleave 0 (rec.for_user_explained ranks by score): validation HR@10 0.201 against
-- 0.191 for 0016's interleaved weights (docs/user_mode.md).
CREATE OR REPLACE FUNCTION rec._defaults() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT '{"exact_rows_scale": 150,
           "fallback_coef": [1.0, 0.0, 0.03, 0.01, 0.0, 0.0003, 0.0, 0.0, 0.0],
           "interleave": 0}'::jsonb
$$;
