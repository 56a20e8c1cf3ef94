CREATE OR REPLACE FUNCTION rec.more_like(positive bigint[], negative bigint[] DEFAULT '{}',
                              k integer DEFAULT 10, filters jsonb DEFAULT '{}',
                              weights jsonb DEFAULT NULL)
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  f jsonb;
  v vector;
BEGIN
  PERFORM rec._check_k(k);
  f := rec._exclude(filters, coalesce(positive, '{}') || coalesce(negative, '{}'));
  v := rec.more_like_vector(positive, coalesce(negative, '{}'), weights);
  -- No usable positive, or negatives that cancel it: nothing to be similar to.
  IF v IS NULL OR vector_norm(v) = 0 THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT s.item_id, s.score FROM rec.semantic(v, k, f) s;
END $$;
