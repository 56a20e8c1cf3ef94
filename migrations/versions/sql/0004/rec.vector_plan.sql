-- How rec.semantic will answer: path 'exact' or 'hnsw', the matching rows (counted exactly
-- up to the threshold, so 'hnsw' shows the threshold) and the ef_search it will use.
CREATE OR REPLACE FUNCTION rec.vector_plan(k integer, filters jsonb DEFAULT '{}', model text DEFAULT NULL,
                                OUT path text, OUT matching bigint, OUT ef_search integer)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  total double precision;
  ef_min double precision := rec._setting('ef_search_min', 400);
  cap bigint;
BEGIN
  PERFORM rec._check_k(k);
  PERFORM rec.resolve_model(model);
  SELECT greatest(c.reltuples, 1) INTO total FROM pg_class c WHERE c.oid = 'public.items'::regclass;
  cap := greatest(rec._setting('exact_max_rows', 5000),
                  ceil(total * rec._setting('hnsw_min_fraction', 0.1)))::bigint + 1;
  -- Counted, not estimated: estimates are wrong exactly when filters correlate. The count
  -- stops at cap, so a broad filter costs a few ms and its selectivity is a lower bound.
  EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM public.items i WHERE %s LIMIT %s) s',
                 rec.filter_sql(filters), cap)
    INTO matching;
  IF matching < cap THEN
    path := 'exact';
    RETURN;
  END IF;
  path := 'hnsw';
  -- About 8k matching rows among the first ef_search candidates (8k / selectivity).
  ef_search := least(1000, greatest(ef_min, ceil(8 * k * greatest(total, matching) / matching)));
END $$;
