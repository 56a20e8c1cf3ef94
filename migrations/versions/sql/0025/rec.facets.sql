-- 0025: what a caller can filter on. The k most common kinds, categories and tags with the
-- number of items holding each (ties by value), so that a client can offer the spellings the
-- filters match: categories and tags match exactly, kinds in any case (grouped here by
-- lower(kind), shown as their most common spelling).
CREATE OR REPLACE FUNCTION rec.facets(k integer DEFAULT 50)
RETURNS TABLE(facet text, value text, items bigint)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
BEGIN
  PERFORM rec._check_k(k);
  RETURN QUERY
  (SELECT 'kind', (SELECT i2.kind FROM public.items i2 WHERE lower(i2.kind) = g.v
                   GROUP BY i2.kind ORDER BY count(*) DESC, i2.kind LIMIT 1), g.n
   FROM (SELECT lower(i.kind) AS v, count(*) AS n FROM public.items i
         WHERE i.kind IS NOT NULL GROUP BY lower(i.kind)) g
   ORDER BY g.n DESC, g.v LIMIT k)
  UNION ALL
  (SELECT 'category', c.v, count(*) FROM public.items i, unnest(i.categories) c(v)
   GROUP BY c.v ORDER BY count(*) DESC, c.v LIMIT k)
  UNION ALL
  (SELECT 'tag', t.v, count(*) FROM public.items i, unnest(i.tags) t(v)
   GROUP BY t.v ORDER BY count(*) DESC, t.v LIMIT k);
END $$;
