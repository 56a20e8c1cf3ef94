-- Bad input is SQLSTATE 22023 naming the key and value, so the API can answer 400 with it.
CREATE OR REPLACE FUNCTION rec._bad(key text, val jsonb, expected text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RAISE EXCEPTION 'invalid %: % (expected %)', key, val, expected
    USING ERRCODE = '22023', COLUMN = key;
END $$;
