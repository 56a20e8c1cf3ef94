-- Weighted mean of the items' vectors (weights: {"id": w}, default 1); null if none found.
-- At most 10,000 ids (22023 'invalid ids'), so more_like_vector is bounded too.
CREATE OR REPLACE FUNCTION rec._mean(ids bigint[], weights jsonb, model_name text, dim integer)
RETURNS vector LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT CASE WHEN count(*) > 0 THEN
           sum(array_fill(x.w, ARRAY[dim])::vector * e.embedding)
           * array_fill((1 / sum(x.w))::real, ARRAY[dim])::vector
         END
  FROM (SELECT DISTINCT u.id, coalesce((weights ->> u.id::text)::real, 1) AS w
        FROM unnest(ids) u(id)
        WHERE rec._check_size('ids', cardinality(ids), 10000)) x
  JOIN public.item_embeddings e ON e.item_id = x.id AND e.model = model_name
$$;
