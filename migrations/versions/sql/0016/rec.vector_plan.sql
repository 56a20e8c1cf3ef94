-- How rec.semantic will answer: path 'exact' or 'hnsw', the matching rows (counted exactly
-- up to the threshold, so 'hnsw' shows the threshold + 1, or the planner's estimate when
-- that is over 3x the threshold) and the ef_search it will use.
-- The decision is rec._vector_plan's (rec.semantic reuses its matching ids).
CREATE OR REPLACE FUNCTION rec.vector_plan(k integer, filters jsonb DEFAULT '{}', model text DEFAULT NULL,
                                OUT path text, OUT matching bigint, OUT ef_search integer)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  p record;
BEGIN
  PERFORM rec._check_k(k);
  PERFORM rec.resolve_model(model);
  p := rec._vector_plan(k, rec.filter_sql(filters));
  path := p.path;
  matching := p.matching;
  ef_search := p.ef_search;
END $$;
