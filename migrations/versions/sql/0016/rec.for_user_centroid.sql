-- The first user mode, one centroid of the user's interactions: kept as a component.
CREATE OR REPLACE FUNCTION rec.for_user_centroid(user_id text, k integer,
                                                 filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real) LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  f jsonb;
  v vector;
BEGIN
  PERFORM rec._check_k(k);
  f := rec._exclude(filters, ARRAY(
    SELECT DISTINCT x.item_id FROM public.interactions x
    WHERE x.user_id = for_user_centroid.user_id));
  v := rec.user_profile(for_user_centroid.user_id);
  IF v IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT s.item_id, s.score FROM rec.semantic(v, k, f) s;
END $$;
