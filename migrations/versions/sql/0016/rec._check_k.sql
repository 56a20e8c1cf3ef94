CREATE OR REPLACE FUNCTION rec._check_k(k integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF k IS NULL OR k < 1 OR k > 10000 THEN
    PERFORM rec._bad('k', to_jsonb(k), 'an integer from 1 to 10000');
  END IF;
END $$;
