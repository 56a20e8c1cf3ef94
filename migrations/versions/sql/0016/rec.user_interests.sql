-- A user's interests: their liked items (the 100 most recent with a vector) split by
-- farthest-point seeding (a new seed must be at cosine distance >= pgrec.interest_distance,
-- default 0.5, from the others) and two assignment passes; an interest holding less than
-- 10% of the weight is merged into the nearest other. `label`: the interest's heaviest
-- category (or its heaviest item's title); `items`: its items, heaviest first.
CREATE OR REPLACE FUNCTION rec.user_interests(user_id text, max_interests integer DEFAULT 3,
                                   positive bigint[] DEFAULT '{}', negative bigint[] DEFAULT '{}')
RETURNS TABLE(interest integer, weight real, share real, centroid vector, items bigint[],
              label text)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  m text;
  d integer;
  ids bigint[];
  ws real[];
  vs vector[];
  seeds vector[];
  cand vector;
  dist double precision;
  min_distance double precision := rec._setting('interest_distance', 0.5);
  pass integer;
BEGIN
  IF max_interests IS NULL OR max_interests < 1 OR max_interests > 10 THEN
    PERFORM rec._bad('max_interests', to_jsonb(max_interests), 'an integer from 1 to 10');
  END IF;
  SELECT em.name, em.dim INTO m, d FROM public.embedding_models em WHERE em.active;
  IF m IS NULL THEN
    RETURN;
  END IF;
  SELECT array_agg(h.item_id ORDER BY h.weight DESC, h.last_at DESC, h.item_id),
         array_agg(h.weight ORDER BY h.weight DESC, h.last_at DESC, h.item_id),
         array_agg(e.embedding ORDER BY h.weight DESC, h.last_at DESC, h.item_id)
    INTO ids, ws, vs
    FROM (SELECT * FROM rec.user_history(user_interests.user_id, positive, negative) uh
          WHERE uh.weight > 0 ORDER BY uh.last_at DESC, uh.item_id LIMIT 100) h
    JOIN public.item_embeddings e ON e.item_id = h.item_id AND e.model = m;
  IF ids IS NULL THEN
    RETURN;
  END IF;
  seeds := ARRAY[vs[1]];
  WHILE cardinality(seeds) < max_interests LOOP
    SELECT u.v, (SELECT min(u.v <=> s) FROM unnest(seeds) s) AS md INTO cand, dist
      FROM unnest(vs) WITH ORDINALITY u(v, n) ORDER BY md DESC, u.n LIMIT 1;
    EXIT WHEN dist < min_distance;
    seeds := seeds || cand;
  END LOOP;
  FOR pass IN 1..2 LOOP
    SELECT array_agg(c.centroid ORDER BY c.g) INTO seeds FROM (
      SELECT a.g, sum(array_fill(a.w, ARRAY[d])::vector * a.v)
                  * array_fill((1 / sum(a.w))::real, ARRAY[d])::vector AS centroid
      FROM (SELECT u.w, u.v, (SELECT s.n FROM unnest(seeds) WITH ORDINALITY s(c, n)
                              ORDER BY u.v <=> s.c, s.n LIMIT 1) AS g
            FROM unnest(ws, vs) u(w, v)) a
      GROUP BY a.g
      HAVING pass = 1 OR sum(a.w) >= 0.1 * (SELECT sum(x) FROM unnest(ws) x)) c;
  END LOOP;
  RETURN QUERY
    WITH a AS (
      SELECT u.id, u.w, u.n, (SELECT s.n FROM unnest(seeds) WITH ORDINALITY s(c, n)
                              ORDER BY u.v <=> s.c, s.n LIMIT 1)::integer AS g
      FROM unnest(ids, ws, vs) WITH ORDINALITY u(id, w, v, n)
    ), g AS (
      SELECT a.g, sum(a.w)::real AS w, array_agg(a.id ORDER BY a.n) AS members FROM a GROUP BY a.g
    )
    SELECT g.g, g.w, (g.w / sum(g.w) OVER ())::real, seeds[g.g], g.members,
           coalesce((SELECT c.cat FROM a JOIN public.items i ON i.id = a.id,
                       unnest(i.categories) c(cat)
                     WHERE a.g = g.g GROUP BY c.cat ORDER BY sum(a.w) DESC, c.cat LIMIT 1),
                    (SELECT i.title FROM public.items i WHERE i.id = g.members[1]))
    FROM g ORDER BY g.w DESC, g.g;
END $$;
