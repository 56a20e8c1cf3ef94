-- The stored neighbour list when it can be trusted (no filters, k within the stored K, and
-- the item's vector is current and older than the last neighbours run's watermark);
-- otherwise a vector search from the item's own vector. Unknown or not yet embedded items
-- give no rows.
CREATE OR REPLACE FUNCTION rec.similar_items(item bigint, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  m text;
  v vector;
  fresh boolean;
  f jsonb;
BEGIN
  PERFORM rec._check_k(k);
  f := rec._exclude(filters, ARRAY[similar_items.item]);
  SELECT r.name INTO m FROM rec.resolve_model() r;
  SELECT e.embedding,
         e.content_hash = i.content_hash AND EXISTS (
           SELECT 1 FROM public.refresh_state s
           WHERE s.model = m AND s.job = 'neighbors' AND s.watermark > e.embedded_at)
    INTO v, fresh
    FROM public.items i JOIN public.item_embeddings e ON e.item_id = i.id AND e.model = m
    WHERE i.id = similar_items.item;
  IF v IS NULL THEN
    RETURN;
  END IF;
  IF fresh AND rec.filter_sql(filters) = 'true' AND k <= (
      SELECT count(*) FROM public.item_neighbors n
      WHERE n.model = m AND n.item_id = similar_items.item AND n.rank <= k) THEN
    RETURN QUERY SELECT n.neighbor_id, n.score FROM public.item_neighbors n
      WHERE n.model = m AND n.item_id = similar_items.item AND n.rank <= k ORDER BY n.rank;
    RETURN;
  END IF;
  RETURN QUERY SELECT s.item_id, s.score FROM rec.semantic(v, k, f, m) s;
END $$;
