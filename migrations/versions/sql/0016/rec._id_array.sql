-- At most 10,000 ids in one filter (22023 naming the key), checked first.
CREATE OR REPLACE FUNCTION rec._id_array(key text, val jsonb) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(val) = 'array' THEN
    PERFORM rec._check_size(key, jsonb_array_length(val), 10000);
  END IF;
  IF jsonb_typeof(val) <> 'array' OR EXISTS (
      SELECT 1 FROM jsonb_array_elements(val) x
      WHERE jsonb_typeof(x) <> 'number' OR x::numeric <> trunc(x::numeric)
         OR abs(x::numeric) > 9223372036854775807) THEN
    PERFORM rec._bad(key, val, 'an array of integer item ids');
  END IF;
  RETURN ARRAY(SELECT x::numeric::bigint FROM jsonb_array_elements(val) x);
END $$;
