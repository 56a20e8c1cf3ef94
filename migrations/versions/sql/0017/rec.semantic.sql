-- The planner (rec._vector_plan decides). Exact: the true top-k over the matching ids the
-- plan collected, read by primary key (the uncast distance, which no index serves). HNSW:
-- an iterative scan (relaxed_order) of the model's partial index with the filter applied to
-- each candidate; `candidates` rows re-ranked by exact distance, cut to k; fewer than k
-- (the scan hit hnsw.max_scan_tuples) means an exact scan answers instead.
-- 0010: the exact scan reads only the collected ids, no parallel workers or JIT.
-- 0017: the HNSW scan orders by the expression of the model's index, whose storage
-- (embedding_models.storage, PGREC_VECTOR_STORAGE) is vector or halfvec; the re-rank and
-- the exact scan keep the stored full-precision vectors.
CREATE OR REPLACE FUNCTION rec.semantic(q vector, k integer, filters jsonb DEFAULT '{}',
                             model text DEFAULT NULL)
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE
SET search_path = public SET hnsw.iterative_scan = 'off' SET hnsw.ef_search = '40'
SET max_parallel_workers_per_gather = '0' SET jit = 'off'
AS $$
DECLARE
  m text;
  d integer;
  st text;
  w text;
  plan record;
  ids bigint[];
  scores real[];
BEGIN
  PERFORM rec._check_k(k);
  SELECT r.name, r.dim INTO m, d FROM rec.resolve_model(model) r;
  SELECT em.storage INTO st FROM public.embedding_models em WHERE em.name = m;
  IF vector_dims(q) <> d THEN
    PERFORM rec._bad('q', to_jsonb(vector_dims(q)), format('%s dimensions (model %s)', d, m));
  END IF;
  w := rec.filter_sql(filters);
  plan := rec._vector_plan(k, w);
  IF q IS NULL THEN
    RETURN;
  END IF;
  IF plan.path = 'exact' THEN
    ids := plan.ids;
    RETURN QUERY SELECT e.item_id, (1 - (e.embedding <=> q))::real
      FROM public.item_embeddings e
      WHERE e.model = m AND e.item_id = ANY (ids)
      ORDER BY e.embedding <=> q, e.item_id
      LIMIT k;
    RETURN;
  END IF;
  -- These settings end with the function (its SET clause restores them).
  PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);
  PERFORM set_config('hnsw.ef_search', plan.ef_search::text, true);
  EXECUTE format($f$
    SELECT array_agg(c.item_id ORDER BY c.dist, c.item_id),
           array_agg((1 - c.dist)::real ORDER BY c.dist, c.item_id)
    FROM (SELECT e.item_id, e.embedding <=> $1 AS dist
          FROM public.item_embeddings e JOIN public.items i ON i.id = e.item_id
          WHERE e.model = %L AND %s
          ORDER BY e.embedding::%4$s(%3$s) <=> $1::%4$s(%3$s)
          LIMIT $2) c$f$, m, w, d, st)
    INTO ids, scores USING q, plan.candidates;
  IF cardinality(ids) >= k THEN
    RETURN QUERY SELECT u.id, u.s FROM unnest(ids, scores) WITH ORDINALITY u(id, s, n)
      WHERE u.n <= k ORDER BY u.n;
    RETURN;
  END IF;
  -- Fewer than k: the scan hit hnsw.max_scan_tuples; only an exact scan is sure.
  RETURN QUERY EXECUTE format($f$
    SELECT e.item_id, (1 - (e.embedding <=> $1))::real
    FROM public.items i JOIN public.item_embeddings e ON e.item_id = i.id AND e.model = %L
    WHERE %s
    ORDER BY e.embedding <=> $1, e.item_id
    LIMIT $2$f$, m, w) USING q, k;
END $$;
