-- BM25 over the weighted fields of items.search_tsv (BM25F with a term's presence per field
-- as its frequency: titles and tag lists hold a word once). Document frequencies are exact,
-- counted over the items that hold a query term (one GIN scan that also yields the
-- candidates), except for common terms; the average length is over those items too, so no
-- job has to keep statistics. Common terms (in more than pgrec.terms_common of the items, by
-- the planner's statistics of search_tsv) only score the items the other terms find, as
-- Lucene's common-terms query does: "life" in "dinosaurs come back to life" would otherwise
-- make half the catalog a candidate. When that finds fewer than k items, or every term is
-- common, all terms find candidates. Field weights, k1 and b are settings (pgrec.terms_*);
-- the defaults were chosen on the tuning half of the judged queries (bench/eval_text.py).
-- 0023: two tests per (item, term) row are skipped where the row already answers them. A row
-- is an item holding a term, so it matches the finder when the finder is every term (no
-- common term left out), and it matches `match` when that is just the terms ORed (no
-- phrase, compound word or excluded word) and no filter applies. Same answers; a five-word
-- query reads ~7,000 such rows on the 40k bench catalog, each also tested against the three
-- field-weighted queries of its term: ~12% less CPU (docs/serving.md).
CREATE OR REPLACE FUNCTION rec.search_terms(q text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
-- work_mem: the per-term rows of a broad query stay in memory instead of spilling.
LANGUAGE plpgsql STABLE SET search_path = public SET work_mem = '32MB' AS $$
DECLARE
  p record;
  w text;
  total float8;
  freq float8[];
  common boolean[];
  cutoff float8 := rec._setting('terms_common', 0.1);
  finder tsquery;
  any_term tsquery;
  every_term boolean;
  ids bigint[];
  scores real[];
BEGIN
  PERFORM rec._check_k(k);
  w := rec.filter_sql(filters);
  p := rec.parse_terms(q);
  SELECT greatest(c.reltuples, 1) INTO total FROM pg_class c WHERE c.oid = 'public.items'::regclass;
  -- Each term's share of items from pg_stats (0 when unknown: rare, or never analysed).
  SELECT array_agg(coalesce(s.freqs[array_position(s.elems, u.term)], 0) ORDER BY u.n)
    INTO freq
    FROM unnest(p.terms) WITH ORDINALITY u(term, n)
    LEFT JOIN (SELECT st.most_common_elems::text::text[] AS elems,
                      st.most_common_elem_freqs AS freqs
               FROM pg_stats st
               WHERE st.schemaname = 'public' AND st.tablename = 'items'
                 AND st.attname = 'search_tsv') s ON true;
  -- A phrase's words are never common: the phrase is what finds items.
  SELECT array_agg(f > cutoff AND u.tq = rec._lexeme_query(u.term) ORDER BY u.n) INTO common
    FROM unnest(p.terms, p.term_queries, freq) WITH ORDINALITY u(term, tq, f, n);
  -- Every term ORed, as the finder of a pass that leaves none out is built.
  SELECT string_agg('(' || u.tq::text || ')', ' | ')::tsquery INTO any_term
    FROM unnest(p.term_queries) u(tq);
  FOR pass IN 1..2 LOOP
    SELECT string_agg('(' || u.tq::text || ')', ' | ')::tsquery INTO finder
      FROM unnest(p.term_queries, common) u(tq, c) WHERE pass = 2 OR NOT u.c;
    CONTINUE WHEN finder IS NULL;  -- every term common: the second pass uses them all
    every_term := pass = 2 OR NOT (true = ANY (common));
    EXECUTE format($f$
    WITH t AS MATERIALIZED (  -- each term's weighted queries parsed once, not per row
      SELECT u.n, u.tq, u.c, rec._lexeme_query(u.term, 'A') AS qa,
             rec._lexeme_query(u.term, 'B') AS qb, rec._lexeme_query(u.term, 'C') AS qc
      FROM unnest($3::text[], $4::tsquery[], $11::boolean[]) WITH ORDINALITY u(term, tq, c, n)
    ), hit AS MATERIALIZED (
      -- One row per (item holding a term, term): the GIN index finds the items.
      SELECT i.id, i.popularity, ($16 OR (i.search_tsv @@ $2 AND %s)) AS keep, x.n, x.tf,
             length(i.search_tsv)::float8 AS dl
      FROM public.items i
      CROSS JOIN LATERAL (
        SELECT t.n, $6 * (i.search_tsv @@ t.qa)::int + $7 * (i.search_tsv @@ t.qb)::int
                    + $8 * (i.search_tsv @@ t.qc)::int AS tf
        FROM t WHERE i.search_tsv @@ t.tq) x
      WHERE $15 OR i.search_tsv @@ $5
    ), stats AS (
      SELECT greatest($13, count(DISTINCT h.id))::float8 AS total, avg(h.dl) AS avgdl
      FROM hit h
    ), idf AS (
      -- Common terms' frequency comes from the statistics: not every holder was found.
      SELECT h.n, ln(1 + (s.total - d.df + 0.5) / (d.df + 0.5)) AS idf
      FROM (SELECT h.n, CASE WHEN t.c AND $14 = 1 THEN $12[h.n] * $13 ELSE count(*) END AS df
            FROM hit h JOIN t USING (n) GROUP BY h.n, t.c) d
      JOIN (SELECT DISTINCT n FROM hit) h USING (n), stats s
    ), scored AS (
      SELECT h.id,
             sum(f.idf * h.tf * ($9 + 1)
                 / (h.tf + $9 * (1 - $10 + $10 * h.dl / s.avgdl)))::real AS s
      FROM hit h JOIN idf f USING (n), stats s
      WHERE h.keep
      GROUP BY h.id, h.popularity
      ORDER BY s DESC, h.popularity DESC, h.id
      LIMIT $1)
    SELECT array_agg(id), array_agg(s) FROM scored$f$, w)
    INTO ids, scores
    USING k, p.match, p.terms, p.term_queries, finder,
          rec._setting('terms_title', 2), rec._setting('terms_tags', 1.5),
          rec._setting('terms_description', 1),
          rec._setting('terms_k1', 2), rec._setting('terms_b', 0),
          common, freq, total, pass,
          every_term, w = 'true' AND p.match = any_term;
    -- Enough items found without the common terms (or all terms were used): done.
    EXIT WHEN pass = 2 OR coalesce(cardinality(ids), 0) >= k OR NOT (true = ANY (common));
  END LOOP;
  RETURN QUERY SELECT u.id, u.s FROM unnest(ids, scores) WITH ORDINALITY u(id, s, n)
    ORDER BY u.n;
END $$;
