-- The more-like-these query vector: avg_pos + (avg_pos - avg_neg), or avg_pos alone.
CREATE OR REPLACE FUNCTION rec.more_like_vector(positive bigint[], negative bigint[] DEFAULT '{}',
                                     weights jsonb DEFAULT NULL, model text DEFAULT NULL)
RETURNS vector LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  m text;
  d integer;
  pos vector;
  neg vector;
  key text;
  val jsonb;
BEGIN
  SELECT r.name, r.dim INTO m, d FROM rec.resolve_model(model) r;
  IF coalesce(jsonb_typeof(weights), 'null') <> 'null' THEN
    IF jsonb_typeof(weights) <> 'object' THEN
      PERFORM rec._bad('weights', weights, 'an object of item id: weight');
    END IF;
    FOR key, val IN SELECT w.key, w.value FROM jsonb_each(weights) w LOOP
      IF key !~ '^[0-9]{1,18}$' OR NOT key::bigint = ANY (positive || negative) THEN
        PERFORM rec._bad('weights', to_jsonb(key), 'ids from positive or negative');
      END IF;
      IF jsonb_typeof(val) <> 'number' OR val::numeric <= 0 OR val::numeric > 1e6 THEN
        PERFORM rec._bad('weights.' || key, val, 'a positive number');
      END IF;
    END LOOP;
  END IF;
  pos := rec._mean(positive, weights, m, d);
  IF pos IS NULL THEN
    RETURN NULL;
  END IF;
  neg := rec._mean(negative, weights, m, d);
  RETURN CASE WHEN neg IS NULL THEN pos ELSE pos + (pos - neg) END;
END $$;
