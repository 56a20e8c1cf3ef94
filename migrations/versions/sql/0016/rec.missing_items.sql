-- The ids (in input order, once each) that have no vector under the model: unknown items
-- and items not embedded yet. more_like reports these instead of failing.
-- At most 10,000 ids (22023 'invalid ids').
CREATE OR REPLACE FUNCTION rec.missing_items(ids bigint[], model text DEFAULT NULL) RETURNS bigint[]
LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT coalesce(array_agg(u.id ORDER BY u.pos), '{}')
  FROM (SELECT x.id, min(x.pos) AS pos FROM unnest(ids) WITH ORDINALITY x(id, pos)
        WHERE rec._check_size('ids', cardinality(ids), 10000)
        GROUP BY x.id) u
  WHERE NOT EXISTS (
    SELECT 1 FROM public.item_embeddings e
    WHERE e.item_id = u.id
      AND e.model = (SELECT r.name FROM rec.resolve_model(missing_items.model) r))
$$;
