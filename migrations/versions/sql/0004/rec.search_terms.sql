CREATE OR REPLACE FUNCTION rec.search_terms(q text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
BEGIN
  PERFORM rec._check_k(k);
  RETURN QUERY EXECUTE format($f$
    SELECT i.id, ts_rank_cd(i.search_tsv, t.query)::real AS score
    FROM public.items i, websearch_to_tsquery('english', $1) t(query)
    WHERE i.search_tsv @@ t.query AND %s
    ORDER BY score DESC, i.popularity DESC, i.id
    LIMIT $2$f$, rec.filter_sql(filters)) USING q, k;
END $$;
