-- People who liked these also liked: every item's co-occurrence list (item_cooccurrence,
-- refreshed by `pgrec cooccurrence refresh`) summed over the given items, the items
-- themselves left out. The co-occurrence half of more-like-these (api/fusion.py blends it
-- with the vector centroid).
CREATE OR REPLACE FUNCTION rec.also_liked(items bigint[], k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
BEGIN
  PERFORM rec._check_k(k);
  IF cardinality(items) > 1000 THEN
    PERFORM rec._bad('items', to_jsonb(cardinality(items)), 'at most 1000 item ids');
  END IF;
  RETURN QUERY EXECUTE format($f$
    SELECT c.neighbor_id, sum(c.score)::real AS score
    FROM public.item_cooccurrence c JOIN public.items i ON i.id = c.neighbor_id
    WHERE c.item_id = ANY ($1) AND c.neighbor_id <> ALL ($1) AND %s
    GROUP BY c.neighbor_id
    ORDER BY score DESC, c.neighbor_id
    LIMIT $2$f$, rec.filter_sql(filters)) USING coalesce(items, '{}'), k;
END $$;
