-- "People who liked this also liked": the item's co-occurrence list within the filters.
CREATE OR REPLACE FUNCTION rec.cooccurring(item bigint, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
BEGIN
  PERFORM rec._check_k(k);
  RETURN QUERY EXECUTE format($f$
    SELECT c.neighbor_id, c.score
    FROM public.item_cooccurrence c JOIN public.items i ON i.id = c.neighbor_id
    WHERE c.item_id = $1 AND %s
    ORDER BY c.rank LIMIT $2$f$, rec.filter_sql(filters)) USING item, k;
END $$;
