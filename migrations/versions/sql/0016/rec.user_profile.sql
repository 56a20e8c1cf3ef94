-- Decayed weights are floored (same floor as rec.user_history): without it the profile of a
-- user whose events span years underflowed (weights of 1e-30 times vector elements), which
-- pgvector raises on.
CREATE OR REPLACE FUNCTION rec.user_profile(user_id text, model text DEFAULT NULL) RETURNS vector
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  m text;
  d integer;
  v vector;
  positive real;
BEGIN
  SELECT r.name, r.dim INTO m, d FROM rec.resolve_model(model) r;
  WITH ev AS (
    SELECT x.item_id, rec.event_weight(x.event, x.value) * greatest(1 / 64.0, power(0.5,
             extract(epoch FROM max(x.occurred_at) OVER () - x.occurred_at)::float8
             / (90 * 86400))) AS w
    FROM public.interactions x WHERE x.user_id = user_profile.user_id
  ), per_item AS (
    SELECT ev.item_id, sum(ev.w)::real AS w FROM ev GROUP BY ev.item_id
  )
  SELECT sum(array_fill(p.w, ARRAY[d])::vector * e.embedding), sum(greatest(p.w, 0))
    INTO v, positive
    FROM per_item p JOIN public.item_embeddings e ON e.item_id = p.item_id AND e.model = m;
  IF v IS NULL OR positive <= 0 OR vector_norm(v) = 0 THEN
    RETURN NULL;
  END IF;
  RETURN v;
END $$;
