-- 0004's rec._mean failed on an empty id list (array_fill of a null before HAVING applied),
-- so more_like with no negatives raised instead of ignoring them. Same signature and result
-- otherwise; the downgrade keeps this version.
CREATE OR REPLACE FUNCTION rec._mean(ids bigint[], weights jsonb, model_name text, dim integer)
RETURNS vector LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT CASE WHEN count(*) > 0 THEN
           sum(array_fill(x.w, ARRAY[dim])::vector * e.embedding)
           * array_fill((1 / sum(x.w))::real, ARRAY[dim])::vector
         END
  FROM (SELECT DISTINCT u.id, coalesce((weights ->> u.id::text)::real, 1) AS w
        FROM unnest(ids) u(id)) x
  JOIN public.item_embeddings e ON e.item_id = x.id AND e.model = model_name
$$;
