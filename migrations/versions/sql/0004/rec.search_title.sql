-- Typo-tolerant: candidates share enough trigrams with the query (the GIN index on
-- pgrec_norm_title(title) serves <%), ranked by how well the whole title matches.
CREATE OR REPLACE FUNCTION rec.search_title(q text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE
SET search_path = public SET pg_trgm.word_similarity_threshold = '0.3'
AS $$
BEGIN
  PERFORM rec._check_k(k);
  RETURN QUERY EXECUTE format($f$
    SELECT i.id, ((similarity($1, public.pgrec_norm_title(i.title))
                   + word_similarity($1, public.pgrec_norm_title(i.title))) / 2)::real AS score
    FROM public.items i
    WHERE $1 <%% public.pgrec_norm_title(i.title) AND %s
    ORDER BY score DESC, i.popularity DESC, i.id
    LIMIT $2$f$, rec.filter_sql(filters)) USING public.pgrec_norm_title(q), k;
END $$;
