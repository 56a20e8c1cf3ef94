-- The decision behind rec.semantic and rec.vector_plan, on a filter rendered by
-- rec.filter_sql. An exact scan costs about one row fetch per matching row; HNSW with an
-- iterative scan costs about one per candidate it passes over, about k / selectivity, so the
-- exact scan wins below about sqrt(c x catalog) matching rows (pgrec.exact_rows_scale, see
-- rec._defaults) unless pgrec.exact_max_rows fixes it. The matching ids are collected once,
-- up to the threshold, and the exact scan reads just those rows (no second pass of the
-- filter). HNSW takes `candidates` rows from an iterative scan. VOLATILE only because a
-- STABLE function may not run EXPLAIN; it reads and never writes.
-- 0017: the first beam is sized so that it usually holds the candidates:
-- ef_search = candidates x pgrec.ef_per_candidate / selectivity (the planner's estimate, or
-- the threshold when the count passed it), at least pgrec.ef_search_min; every tuple the
-- scan passes over costs a graph step, and a flat 200 cost 3 ms where 50% of the catalog
-- matches and 40 is as exact. A filter estimated over pgrec.estimate_margin x the
-- threshold (was 3) goes to HNSW without counting.
CREATE OR REPLACE FUNCTION rec._vector_plan(k integer, w text, OUT path text,
                                 OUT matching bigint, OUT ef_search integer,
                                 OUT candidates integer, OUT ids bigint[])
LANGUAGE plpgsql VOLATILE SET search_path = public AS $$
DECLARE
  total double precision;
  cap bigint;
  est json;
  rows_est double precision;
BEGIN
  SELECT greatest(c.reltuples, 1) INTO total FROM pg_class c WHERE c.oid = 'public.items'::regclass;
  cap := coalesce(rec._setting('exact_max_rows', NULL),
                  ceil(sqrt(total * rec._setting('exact_rows_scale', 150))))::bigint;
  -- Relaxed order returns nearly sorted batches: a few more than k, re-ranked exactly.
  candidates := k + greatest(15, ceil(k / 2.0))::integer;
  IF w = 'true' AND total > cap THEN
    path := 'hnsw';  -- unfiltered: nothing to count
    matching := total::bigint;
  ELSE
    -- Estimates of these filters err by tens of percent, and near the threshold both paths
    -- cost about the same; too low an estimate only costs a count (a third of an exact scan).
    EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM public.items i WHERE ' || w INTO est;
    rows_est := (est -> 0 -> 'Plan' ->> 'Plan Rows')::double precision;
    IF rows_est > rec._setting('estimate_margin', 1.25) * cap THEN
      path := 'hnsw';
      matching := rows_est::bigint;
    ELSE
      -- Otherwise counted: estimates are wrong exactly when filters correlate.
      EXECUTE format('SELECT array_agg(s.id) FROM (SELECT i.id FROM public.items i WHERE %s LIMIT %s) s',
                     w, cap + 1)
        INTO ids;
      matching := coalesce(cardinality(ids), 0);
      IF matching <= cap THEN
        path := 'exact';
        RETURN;
      END IF;
      path := 'hnsw';
      ids := NULL;
    END IF;
  END IF;
  ef_search := least(1000, greatest(rec._setting('ef_search_min', 40),
                 ceil(candidates * rec._setting('ef_per_candidate', 0.5) * total
                      / greatest(matching, rows_est, 1))))::integer;
END $$;
