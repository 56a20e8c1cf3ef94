-- How rec.semantic will answer: path 'exact' or 'hnsw', the matching rows and the ef_search
-- it will use. The decision is rec._vector_plan's (rec.semantic reuses its matching ids).
-- 0018 (the text only; the function is unchanged): matching is counted exactly up to
-- pgrec.estimate_margin x the threshold, so a counted 'hnsw' shows that + 1; a filter the
-- planner estimates over it is not counted, and shows the estimate.
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
