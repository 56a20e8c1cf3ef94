-- "Alien and Aliens", "A, B and C": the titles of items, in order.
CREATE OR REPLACE FUNCTION rec._titles(ids bigint[]) RETURNS text
LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT CASE WHEN count(*) = 1 THEN min(t.title)
              ELSE string_agg(t.title, ', ' ORDER BY t.n) FILTER (WHERE t.n < max_n)
                   || ' and ' || (array_agg(t.title ORDER BY t.n DESC))[1] END
  FROM (SELECT i.title, u.n, max(u.n) OVER () AS max_n
        FROM unnest(ids) WITH ORDINALITY u(id, n) JOIN public.items i ON i.id = u.id) t
$$;
