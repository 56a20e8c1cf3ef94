CREATE OR REPLACE FUNCTION rec._number(key text, val jsonb, integral boolean) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(val) <> 'number'
     OR (integral AND (val::numeric <> trunc(val::numeric) OR abs(val::numeric) > 2147483647))
     OR abs(val::numeric) > 1e12 THEN
    PERFORM rec._bad(key, val, CASE WHEN integral THEN 'an integer' ELSE 'a number' END);
  END IF;
  RETURN val::numeric;
END $$;
