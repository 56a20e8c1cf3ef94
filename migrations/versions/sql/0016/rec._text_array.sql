-- At most 1,000 values in one text filter (22023 naming the key).
CREATE OR REPLACE FUNCTION rec._text_array(key text, val jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(val) <> 'array' OR EXISTS (
      SELECT 1 FROM jsonb_array_elements(val) x WHERE jsonb_typeof(x) <> 'string') THEN
    PERFORM rec._bad(key, val, 'an array of strings');
  END IF;
  PERFORM rec._check_size(key, jsonb_array_length(val), 1000);
  RETURN ARRAY(SELECT jsonb_array_elements_text(val));
END $$;
