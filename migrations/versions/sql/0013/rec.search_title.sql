-- Typo-tolerant: candidates share enough trigrams with the query (the GIN index on
-- pgrec_norm_title(title) serves <%), ranked by how well the whole title matches.
-- 0006: queries over 1,000 characters are refused (22023 naming q).
-- 0013: close matches first. One pass at word_similarity_threshold 0.3 let a short query's
-- common word qualify on its own ("the" is 4 of the 12 trigrams of "the sessins", a word
-- similarity of 0.33 with every "The ..." title): a quarter of the catalog was read and
-- scored per query. Now the threshold starts at 0.6 and steps down (0.5, 0.4, then the
-- former 0.3) only while the best title found scores below the current one. A title's score,
-- (similarity + word_similarity) / 2, does not exceed its word similarity (the best
-- similarity over the title's extents, the whole title among them; pg_trgm finds it greedily:
-- 1 in 973,560 sampled pairs was 0.0008 below the similarity), so a title left out of a step
-- scores below that step's threshold: the titles returned that score at least the threshold
-- of the answering step are the former ones in the former order, the top one among them;
-- weaker ones that used to pad the list to k may be left out.
CREATE OR REPLACE FUNCTION rec.search_title(q text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE
SET search_path = public SET pg_trgm.word_similarity_threshold = '0.3'
AS $$
DECLARE
  nq text;
  stmt text;
  step real;
  ids bigint[];
  scores real[];
BEGIN
  PERFORM rec._check_k(k);
  IF length(q) > 1000 THEN
    RAISE EXCEPTION 'invalid q: % characters (at most 1000)', length(q)
      USING ERRCODE = '22023', COLUMN = 'q';
  END IF;
  nq := public.pgrec_norm_title(q);
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
  FOREACH step IN ARRAY ARRAY[0.6, 0.5, 0.4, 0.3]::real[] LOOP
    -- Local to this call: the SET clause above restores the caller's value on return.
    PERFORM set_config('pg_trgm.word_similarity_threshold', step::text, true);
    EXECUTE stmt INTO ids, scores USING nq, k;
    IF scores[1] >= step OR step <= 0.3 THEN
      RETURN QUERY SELECT u.id, u.score FROM unnest(ids, scores) WITH ORDINALITY u(id, score, n)
        ORDER BY u.n;
      RETURN;
    END IF;
  END LOOP;
END $$;
