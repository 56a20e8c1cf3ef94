-- Every candidate for a user with its features. Sources, each within the filters and
-- without the user's items: the collaborative lists (item_collaborative, EASE) of the 20
-- most recent items, a semantic search per interest (per_source in proportion to its
-- share, at least 10), popular items, fresh items (per_source each, fresh a fifth of that).
-- The `cooc` features and source sum EASE weights (not co-occurrence cosines) over
-- the user's 20 most recent items, the latest first, each weighing 0.9^position (halved
-- for an item not liked): in `pgrec eval` the item the user likes next follows what they
-- rated last far more than their whole history (choices in bench/eval_usermode.py); the
-- `cooc` feature is discounted by 0.003 x ln(1 + the item's preference).
-- `interest`: the closest interest (null without vectors), with its share, label and items
-- (heaviest first); `because`: the two items whose lists add most (null when none lists
-- the item).
-- 0022: `cats` is MATERIALIZED. Named once, PostgreSQL inlined it into the per-candidate
-- category overlap, so the user's liked items were joined to items and grouped again for
-- every candidate (200 candidates x 28 likes = 5,500 item lookups): 25.5 -> 16.2 ms per
-- rec.for_user_explained on the 40k bench catalog, the same answers (docs/serving.md).
CREATE OR REPLACE FUNCTION rec.user_candidates(user_id text, filters jsonb DEFAULT '{}',
                                    per_source integer DEFAULT 100,
                                    positive bigint[] DEFAULT '{}',
                                    negative bigint[] DEFAULT '{}')
RETURNS TABLE(item_id bigint, features real[], sources text[], interest integer,
              because bigint[], interest_share real, interest_label text,
              interest_items bigint[])
LANGUAGE plpgsql STABLE
-- Candidates, not answers: each interest's search may use a narrower HNSW beam.
SET search_path = public SET pgrec.ef_search_min = '100'
AS $$
DECLARE
  m text;
  f jsonb;
  seen bigint[];
BEGIN
  IF per_source IS NULL OR per_source < 1 OR per_source > 1000 THEN
    PERFORM rec._bad('per_source', to_jsonb(per_source), 'an integer from 1 to 1000');
  END IF;
  SELECT em.name INTO m FROM public.embedding_models em WHERE em.active;
  seen := ARRAY(SELECT DISTINCT x.item_id FROM public.interactions x
                WHERE x.user_id = user_candidates.user_id)
          || coalesce(positive, '{}') || coalesce(negative, '{}');
  f := rec._exclude(filters, seen);
  RETURN QUERY EXECUTE format($f$
    WITH hist AS (
      SELECT * FROM rec.user_history($1, $4, $5)
    ), likes AS (
      SELECT h.item_id, h.weight / max(h.weight) OVER () AS w
      FROM hist h WHERE h.weight > 0 ORDER BY h.last_at DESC, h.item_id LIMIT 50
    ), interests AS (
      SELECT * FROM rec.user_interests($1, 3, $4, $5)
    ), profile AS (
      SELECT sum(array_fill(t.share, ARRAY[vector_dims(t.centroid)])::vector * t.centroid) AS v
      FROM interests t
    ), cats AS MATERIALIZED (
      SELECT c.cat, sum(l.w) / (SELECT sum(w) FROM likes) AS share
      FROM likes l JOIN public.items i ON i.id = l.item_id, unnest(i.categories) c(cat)
      GROUP BY c.cat
    ), user_year AS (
      SELECT sum(l.w * i.year) / nullif(sum(l.w) FILTER (WHERE i.year IS NOT NULL), 0) AS y
      FROM likes l JOIN public.items i ON i.id = l.item_id
    ), recent AS (
      -- Liked: the item's undecayed event weights reach 1.5 (a rating of 4 of 5, a like).
      SELECT h.item_id, power(0.9, (row_number() OVER (ORDER BY h.last_at DESC, h.item_id DESC))
             - 1) * CASE WHEN coalesce(p.p, h.weight) >= 1.5 THEN 1 ELSE 0.5 END AS w
      FROM hist h LEFT JOIN LATERAL (
        SELECT sum(rec.event_weight(x.event, x.value)) AS p FROM public.interactions x
        WHERE x.user_id = $1 AND x.item_id = h.item_id) p ON true
      ORDER BY h.last_at DESC, h.item_id DESC LIMIT 20
    ), cooc AS (
      SELECT c.neighbor_id AS id, greatest(sum(l.w * c.score), 0) AS total, max(c.score) AS best,
             count(*) AS hits, (array_agg(c.item_id ORDER BY l.w * c.score DESC, c.item_id))[1:2]
             AS because
      FROM recent l JOIN public.item_collaborative c ON c.item_id = l.item_id
      JOIN public.items i ON i.id = c.neighbor_id
      WHERE %1$s
      GROUP BY c.neighbor_id
    ), pool AS (
      SELECT s.id, s.src FROM (
        (SELECT c.id, 'cooc' AS src FROM cooc c ORDER BY c.total DESC, c.id LIMIT $2)
        UNION ALL
        SELECT s.item_id, 'interest' FROM interests t
          CROSS JOIN LATERAL rec.semantic(t.centroid, greatest(10, ceil($2 * t.share))::int, $3) s
        UNION ALL
        SELECT p.item_id, 'popular' FROM rec.popular($2, $3) p
        UNION ALL
        (SELECT i.id, 'fresh' FROM public.items i WHERE %1$s
         ORDER BY i.created_at DESC, i.id DESC LIMIT greatest(1, $2 / 5))
      ) s
    ), cand AS (
      SELECT p.id, array_agg(DISTINCT p.src ORDER BY p.src) AS sources FROM pool p GROUP BY p.id
    )
    SELECT c.id,
      ARRAY[
        -- Discounted by popularity where the lists reach the item (a user without them keeps
        -- the popular order): coverage@10 0.13 -> 0.17 at the same HR@10 on validation.
        coalesce(ln(1 + co.total) - 0.003 * ln(1 + coalesce(st.preference, 0)), 0),
        coalesce(co.best, 0),
        ln(1 + coalesce(co.hits, 0)),
        coalesce(near.sim, 0),
        coalesce(1 - (e.embedding <=> (SELECT v FROM profile)), 0),
        ln(1 + coalesce(st.preference, 0)),
        coalesce((SELECT sum(ct.share) FROM cats ct WHERE ct.cat = ANY (i.categories))
                 / nullif(cardinality(i.categories), 0), 0),
        coalesce(least(abs(i.year - (SELECT y FROM user_year)) / 10.0, 5), 1),
        exp(-least(extract(epoch FROM now() - i.created_at) / 86400 / 30, 50))
      ]::real[],
      c.sources,
      near.interest,
      co.because,
      near.share,
      near.label,
      near.items
    FROM cand c
    JOIN public.items i ON i.id = c.id
    LEFT JOIN public.item_embeddings e ON e.item_id = c.id AND e.model = $6
    LEFT JOIN cooc co ON co.id = c.id
    LEFT JOIN public.item_stats st ON st.item_id = c.id
    LEFT JOIN LATERAL (
      SELECT t.interest, t.share, t.label, t.items, (1 - (e.embedding <=> t.centroid))::real AS sim
      FROM interests t
      WHERE e.embedding IS NOT NULL ORDER BY e.embedding <=> t.centroid, t.interest LIMIT 1
    ) near ON true
    ORDER BY c.id$f$, rec.filter_sql(f))
    USING user_candidates.user_id, per_source, f, positive, negative, m;
END $$;
