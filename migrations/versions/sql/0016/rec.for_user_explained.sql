-- The hybrid user mode with its reasons. Candidates are scored by rec.ranker(); each
-- interest then takes places in proportion to its share of the user's likes (an item of an
-- interest with share s and rank r among that interest's items is placed at r / s), so a
-- user with two tastes sees both. An unknown user (or one with nothing liked) gets the
-- popular and fresh items within the filters.
-- `source`: the source whose features add most to the score (cooc, interest, popular,
-- fresh); `reason`: that source in words; `because`: the items the reason names.
CREATE OR REPLACE FUNCTION rec.for_user_explained(user_id text, k integer, filters jsonb DEFAULT '{}',
                                       positive bigint[] DEFAULT '{}',
                                       negative bigint[] DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real, source text, reason text, because bigint[])
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  r record;
  interleave boolean := rec._setting('interleave', 1) > 0;
BEGIN
  PERFORM rec._check_k(k);
  r := rec.ranker();
  RETURN QUERY
    WITH scored AS (
      -- score: sigmoid of the model's logit (the fallback's sum too): in (0, 1), so the
      -- API's re-ranking, which normalises non-negative relevance, works with any model.
      SELECT c.item_id, c.interest, c.interest_share AS share, c.interest_label AS label,
             CASE s.source WHEN 'cooc' THEN c.because WHEN 'interest' THEN c.interest_items[1:2]
             END AS because,
             r.intercept + s.total AS raw,
             (1 / (1 + exp(-least(greatest(r.intercept + s.total, -30), 30))))::real AS score,
             s.source
      FROM rec.user_candidates(for_user_explained.user_id, filters,
                               least(1000, greatest(50, 3 * k)), positive, negative) c,
      LATERAL (
        -- The reason is the source adding most among those that retrieved the item.
        SELECT coalesce(sum(g.part), 0) AS total,
               coalesce((array_agg(g.src ORDER BY g.part DESC NULLS LAST, g.n)
                           FILTER (WHERE g.src = ANY (c.sources)))[1], c.sources[1]) AS source
        FROM (SELECT x.src, sum(x.cf * (x.x - x.mu) / nullif(x.sd, 0)) AS part, min(x.n) AS n
              FROM unnest(c.features, r.coef, r.mean, r.scale, rec._feature_sources())
                   WITH ORDINALITY x(x, cf, mu, sd, src, n)
              GROUP BY x.src) g
      ) s
    ), placed AS (
      SELECT s.*,
             CASE WHEN interleave AND s.share IS NOT NULL
                  THEN row_number() OVER (PARTITION BY s.interest ORDER BY s.raw DESC, s.item_id)
                       / s.share
                  ELSE row_number() OVER (ORDER BY s.raw DESC, s.item_id) END AS place
      FROM scored s
    )
    SELECT p.item_id, p.score, p.source,
      CASE
        WHEN p.source = 'cooc' THEN 'liked ' || rec._titles(p.because)
        WHEN p.source = 'interest' AND p.label IS NOT NULL
          THEN 'similar to your interest: ' || p.label || ' (' || rec._titles(p.because) || ')'
        WHEN p.source = 'fresh' THEN 'new' || rec._in_category(p.item_id, filters)
        ELSE 'popular' || rec._in_category(p.item_id, filters)
      END,
      coalesce(p.because, '{}')
    FROM placed p
    ORDER BY p.place, p.raw DESC, p.item_id
    LIMIT k;
END $$;
