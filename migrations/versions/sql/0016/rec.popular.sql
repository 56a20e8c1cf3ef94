-- Popular within the filters: most preferred by users (item_stats), then, for items nobody
-- interacted with yet, the catalog's own popularity column. The cold-start list.
CREATE OR REPLACE FUNCTION rec.popular(k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE
SET search_path = public AS $$
DECLARE
  w text;
  got integer;
BEGIN
  PERFORM rec._check_k(k);
  w := rec.filter_sql(filters);
  RETURN QUERY EXECUTE format($f$
    SELECT i.id, ln(1 + s.preference)::real
    FROM public.item_stats s JOIN public.items i ON i.id = s.item_id
    WHERE s.preference > 0 AND %s
    ORDER BY s.preference DESC, i.id LIMIT $1$f$, w) USING k;
  GET DIAGNOSTICS got = ROW_COUNT;
  IF got < k THEN
    RETURN QUERY EXECUTE format($f$
      SELECT i.id, 0::real FROM public.items i
      WHERE %s AND NOT EXISTS (
        SELECT 1 FROM public.item_stats s WHERE s.item_id = i.id AND s.preference > 0)
      ORDER BY i.popularity DESC, i.id LIMIT $1$f$, w) USING k - got;
  END IF;
END $$;
