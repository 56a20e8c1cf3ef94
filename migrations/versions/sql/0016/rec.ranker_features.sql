-- The features every candidate gets, in the order of rec.user_candidates' `features`:
-- cooc: ln(1 + sum over the user's recent likes s of weight(s) x cooccurrence(s, item));
-- cooc_max: the largest single co-occurrence score; cooc_hits: ln(1 + lists it is in);
-- sem: cosine to the closest interest; sem_profile: cosine to the whole profile;
-- pop: ln(1 + item_stats.preference); cat_overlap: the mean share of the user's liked
-- weight in the item's categories; year_gap: |year - the user's mean year| / 10, capped at 5;
-- fresh: exp(-age in days / 30) of items.created_at.
CREATE OR REPLACE FUNCTION rec.ranker_features() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['cooc', 'cooc_max', 'cooc_hits', 'sem', 'sem_profile', 'pop', 'cat_overlap',
               'year_gap', 'fresh']
$$;
