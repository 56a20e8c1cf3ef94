-- The scoring stage's parameters: the active ranking model's, or the fallback weights
-- (coefficients on the raw features) when none is trained; version 'fallback' names the
-- latter. 0011: the fallback ranks by the collaborative feature (EASE summed over the
-- recent items, rec.user_candidates): on the validation users of `pgrec eval`, EASE over
-- the 20 most recent items had HR@10 0.18 against item-kNN's 0.12 (computed offline);
-- bench/eval_usermode.py re-scores a grid of interest-similarity and popularity weights
-- there and `pgrec eval` reports it; its argmax there is sem 0.01, pop 0.001 (interleaved).
-- sem 0.01 also ranks a user's candidates by their interests where no EASE list reaches them
-- (a catalog with few interactions); pop 0.001 gives a user without history the most
-- preferred items first. A session may pick another: SET pgrec.ranker =
-- 'fallback' or = '<version>' (to compare versions).
CREATE OR REPLACE FUNCTION rec.ranker(OUT version text, OUT mean real[], OUT scale real[],
                           OUT coef real[], OUT intercept real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  wanted text := nullif(current_setting('pgrec.ranker', true), '');
BEGIN
  IF wanted IS DISTINCT FROM 'fallback' THEN
    SELECT r.version,
           ARRAY(SELECT jsonb_array_elements_text(r.params -> 'mean')::real),
           ARRAY(SELECT jsonb_array_elements_text(r.params -> 'scale')::real),
           ARRAY(SELECT jsonb_array_elements_text(r.params -> 'coef')::real),
           (r.params ->> 'intercept')::real
      INTO version, mean, scale, coef, intercept
      FROM public.ranking_models r
      WHERE r.features = rec.ranker_features()
        AND CASE WHEN wanted IS NULL THEN r.active ELSE r.version = wanted END;
    IF version IS NULL AND wanted IS NOT NULL THEN
      PERFORM rec._bad('pgrec.ranker', to_jsonb(wanted),
                       '''fallback'' or a ranking_models version with the current features');
    END IF;
  END IF;
  IF version IS NULL THEN
    version := 'fallback';
    mean := array_fill(0::real, ARRAY[9]);
    scale := array_fill(1::real, ARRAY[9]);
    --             cooc cooc_max hits  sem  sem_profile pop  cat_overlap year_gap fresh
    coef := ARRAY[ 1.0, 0.0,     0.0,  0.01, 0.0,       0.001, 0.0,      0.0,     0.0]::real[];
    intercept := 0;
  END IF;
END $$;
