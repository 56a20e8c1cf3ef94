-- Which source each feature speaks for: how an explanation picks its reason.
CREATE OR REPLACE FUNCTION rec._feature_sources() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['cooc', 'cooc', 'cooc', 'interest', 'interest', 'popular', 'interest',
               'interest', 'fresh']
$$;
