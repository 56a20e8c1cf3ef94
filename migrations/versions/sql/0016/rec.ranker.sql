-- The scoring stage's parameters: the active ranking model's, or the fallback weights
-- (coefficients on the raw features) when none is trained; version 'fallback' names the
-- latter. A session may pick another: SET pgrec.ranker = 'fallback' or = '<version>' (to
-- compare versions).
-- The fallback coefficients are rec._defaults()'s fallback_coef (chosen on the
-- validation users of `pgrec eval`, bench/eval_usermode.py), so re-tuning them redefines
-- only that short function.
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
    coef := ARRAY(SELECT c.value::real
                  FROM jsonb_array_elements_text(rec._defaults() -> 'fallback_coef')
                       WITH ORDINALITY AS c(value, n)
                  ORDER BY c.n);
    intercept := 0;
  END IF;
END $$;
