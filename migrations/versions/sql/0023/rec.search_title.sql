-- Typo-tolerant: candidates share enough trigrams with the query (the GIN index on
-- pgrec_norm_title(title) serves <%), ranked by how well the whole title matches.
-- Queries over 1,000 characters are refused (22023 naming q).
-- Close matches first. A single pass at word_similarity_threshold 0.3 let a short query's
-- common word qualify on its own ("the" is 4 of the 12 trigrams of "the sessins", a word
-- similarity of 0.33 with every "The ..." title): a quarter of the catalog was read and
-- scored per query. Now the threshold starts at 0.6 and steps down to 0.5, 0.4 and the
-- former 0.3, each step read through the GIN index. A step answers when
--   - it found k titles and the k-th scores at least its threshold: the former list, exactly;
--   - or its best title scores at least its threshold, at 0.6 (a close title), or at any step
--     for a query of at most 13 trigrams (at 0.3 such a query admits a title on one shared
--     three-letter word): the former titles scoring at least the threshold, in the former
--     order, then this step's weaker ones; the loose tail that padded the list to k is left
--     out. Longer queries (descriptions) keep the former list: they share no single word's
--     worth of trigrams with enough of a title to make the lower steps expensive.
-- Both rest on a title's score, (similarity + word_similarity) / 2, not exceeding its word
-- similarity (the best similarity over the title's extents, the whole title among them;
-- pg_trgm finds it greedily: 1 in 973,560 sampled pairs was 0.0008 below the similarity),
-- so a title a step leaves out scores below the step's threshold.
-- 0023: a longer query takes the first step and then the last. Its middle steps could only
-- answer by the first rule, with the former list exactly, which the last step gives too.
-- Each step is a GIN scan of all the query's trigrams (~30 for a sentence, the hybrid
-- mode's usual title query), so a sentence without a close title cost four scans, now two.
-- (One scan at the last threshold serving both steps was tried: it took a sentence from
-- 9.7 to 4.0 ms, but a typed title of 15-20 trigrams with common words from 1.6-3.8 to
-- 6.6-19.6 ms, since the first step's threshold keeps most of its rows from the recheck.)
CREATE OR REPLACE FUNCTION rec.search_title(q text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE
SET search_path = public SET pg_trgm.word_similarity_threshold = '0.3'
AS $$
DECLARE
  steps CONSTANT real[] := ARRAY[0.6, 0.5, 0.4, 0.3];
  nq text;
  short boolean;
  stmt text;
  ids bigint[];
  scores real[];
BEGIN
  PERFORM rec._check_k(k);
  IF length(q) > 1000 THEN
    RAISE EXCEPTION 'invalid q: % characters (at most 1000)', length(q)
      USING ERRCODE = '22023', COLUMN = 'q';
  END IF;
  nq := public.pgrec_norm_title(q);
  short := cardinality(public.show_trgm(nq)) <= 13;
  -- The lateral normalises each candidate's title once for both similarities.
  stmt := format($f$
    SELECT array_agg(c.id ORDER BY c.score DESC, c.popularity DESC, c.id),
           array_agg(c.score ORDER BY c.score DESC, c.popularity DESC, c.id)
    FROM (
      SELECT i.id, i.popularity,
             ((similarity($1, t.norm) + word_similarity($1, t.norm)) / 2)::real AS score
      FROM public.items i
      CROSS JOIN LATERAL (SELECT public.pgrec_norm_title(i.title) AS norm OFFSET 0) t
      WHERE $1 <%% public.pgrec_norm_title(i.title) AND %s
      ORDER BY score DESC, i.popularity DESC, i.id
      LIMIT $2) c$f$, rec.filter_sql(filters));
  FOR step IN 1 .. cardinality(steps) LOOP
    CONTINUE WHEN NOT short AND step NOT IN (1, cardinality(steps));
    -- Local to this call: the SET clause above restores the caller's value on return.
    PERFORM set_config('pg_trgm.word_similarity_threshold', steps[step]::text, true);
    EXECUTE stmt INTO ids, scores USING nq, k;
    EXIT WHEN cardinality(scores) = k AND scores[k] >= steps[step];
    EXIT WHEN scores[1] >= steps[step] AND (step = 1 OR short);
  END LOOP;  -- the last step answers whatever it found
  RETURN QUERY SELECT u.id, u.s FROM unnest(ids, scores) WITH ORDINALITY u(id, s, pos)
    ORDER BY u.pos;
END $$;
