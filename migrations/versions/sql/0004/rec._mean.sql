-- Weighted mean of the items' vectors (weights: {"id": w}, default 1); null if none found.
CREATE OR REPLACE FUNCTION rec._mean(ids bigint[], weights jsonb, model_name text, dim integer)
RETURNS vector LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT sum(array_fill(x.w, ARRAY[dim])::vector * e.embedding)
         * array_fill((1 / sum(x.w))::real, ARRAY[dim])::vector
  FROM (SELECT DISTINCT u.id, coalesce((weights ->> u.id::text)::real, 1) AS w
        FROM unnest(ids) u(id)) x
  JOIN public.item_embeddings e ON e.item_id = x.id AND e.model = model_name
  HAVING count(*) > 0
$$;
