-- " in Documentaries": the filter's first category the item has, else its own first one.
CREATE OR REPLACE FUNCTION rec._in_category(item bigint, filters jsonb) RETURNS text
LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT coalesce(' in ' || coalesce(
    (SELECT c.cat FROM jsonb_array_elements_text(
       CASE WHEN jsonb_typeof(filters -> 'categories') = 'array' THEN filters -> 'categories'
            ELSE '[]' END) WITH ORDINALITY c(cat, n)
     WHERE c.cat = ANY (i.categories) ORDER BY c.n LIMIT 1),
    i.categories[1]), '')
  FROM public.items i WHERE i.id = item
$$;
