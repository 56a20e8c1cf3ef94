-- Too many values for one argument: 22023 naming it, before any work is done.
CREATE OR REPLACE FUNCTION rec._check_size(key text, n integer, max integer) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF coalesce(n, 0) > max THEN
    RAISE EXCEPTION 'invalid %: % values (at most %)', key, n, max
      USING ERRCODE = '22023', COLUMN = key;
  END IF;
  RETURN true;
END $$;
