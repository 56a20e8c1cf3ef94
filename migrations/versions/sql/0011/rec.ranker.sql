-- The scoring stage's parameters: the active ranking model's, or the fallback weights
-- (coefficients on the raw features: co-occurrence first, then interest similarity,
-- then popularity) when none is trained; version 'fallback' names the latter. cooc_hits
-- and pop weigh 0 and 0.05: both favour the items in everybody's lists, and with more
-- weight catalog coverage fell below 10% in `pgrec eval` (docs/ranker.md). A session
-- may pick another: SET pgrec.ranker = 'fallback' or = '<version>' (to compare versions).
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
    coef := ARRAY[ 2.0, 1.0,     0.0,  1.0, 0.5,        0.05, 0.3,       -0.1,    0.1]::real[];
    intercept := 0;
  END IF;
END $$;
