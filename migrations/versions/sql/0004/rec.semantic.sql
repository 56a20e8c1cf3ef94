-- The planner. Exact answers come from ORDER BY e.embedding <=> q, an expression the partial
-- HNSW index (on embedding::vector(dim)) cannot serve, so it is a true scan of the matching
-- rows. The index is used only when many rows match (more than pgrec.exact_max_rows and
-- pgrec.hnsw_min_fraction of the catalog): then the filter passes often enough for an
-- iterative scan with a wide ef_search to find the true neighbours; its candidates are
-- re-ranked by exact distance, and fewer than k of them (the scan gave up) means exact.
-- Defaults measured on all-MiniLM-L6-v2 vectors of 40k real texts (docs/analysts.md): an
-- exact scan of 5000 rows costs about one HNSW search at ef_search 800; HNSW kept recall@10
-- >= 0.99 once ef_search x selectivity >= 8 k, and ef_search >= 400 (it is capped at 1000).
CREATE OR REPLACE FUNCTION rec.semantic(q vector, k integer, filters jsonb DEFAULT '{}',
                             model text DEFAULT NULL)
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE
SET search_path = public SET hnsw.iterative_scan = 'off' SET hnsw.ef_search = '40'
AS $$
DECLARE
  m text;
  d integer;
  w text;
  plan record;
  ids bigint[];
  scores real[];
BEGIN
  SELECT r.name, r.dim INTO m, d FROM rec.resolve_model(model) r;
  IF vector_dims(q) <> d THEN
    PERFORM rec._bad('q', to_jsonb(vector_dims(q)), format('%s dimensions (model %s)', d, m));
  END IF;
  plan := rec.vector_plan(k, filters, m);
  w := rec.filter_sql(filters);
  IF q IS NULL THEN
    RETURN;
  END IF;
  IF plan.path = 'hnsw' THEN
    -- These settings end with the function (its SET clause restores them).
    PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);
    PERFORM set_config('hnsw.ef_search', plan.ef_search::text, true);
    EXECUTE format($f$
      SELECT array_agg(c.item_id ORDER BY c.dist, c.item_id),
             array_agg((1 - c.dist)::real ORDER BY c.dist, c.item_id)
      FROM (SELECT e.item_id, e.embedding <=> $1 AS dist
            FROM public.item_embeddings e JOIN public.items i ON i.id = e.item_id
            WHERE e.model = %L AND %s
            ORDER BY e.embedding::vector(%s) <=> $1
            LIMIT $2) c$f$, m, w, d)
      INTO ids, scores USING q, 2 * k + 10;
    -- relaxed_order returns nearly sorted batches: re-ranked above, cut to k here.
    IF cardinality(ids) >= k THEN
      RETURN QUERY SELECT u.id, u.s FROM unnest(ids, scores) WITH ORDINALITY u(id, s, n)
        WHERE u.n <= k ORDER BY u.n;
      RETURN;
    END IF;
    -- Fewer than k: the scan hit hnsw.max_scan_tuples; only an exact scan is sure.
  END IF;
  -- e.embedding <=> q is not the indexed expression (embedding::vector(dim)), so this is
  -- always a scan of the matching rows, never an approximate index scan.
  RETURN QUERY EXECUTE format($f$
    SELECT e.item_id, (1 - (e.embedding <=> $1))::real
    FROM public.items i JOIN public.item_embeddings e ON e.item_id = i.id AND e.model = %L
    WHERE %s
    ORDER BY e.embedding <=> $1, e.item_id
    LIMIT $2$f$, m, w) USING q, k;
END $$;
