"""relevance: terms mode ranks any-term matches by BM25 over weighted fields; also-liked.

rec.search_terms (0004) ANDed every word (websearch_to_tsquery), so natural queries of three
or more words matched nothing. Here plain words match items holding ANY of them, ranked by
BM25 over the fields of items.search_tsv (title A, categories and tags B, description C);
quoted phrases, `-exclusions` and `or` keep their web-search meaning (docs/analysts.md).
rec.parse_terms shows how a query is read. rec.also_liked is "people who liked these also
liked" over a set of items, the co-occurrence half of more-like-these.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of 0004's definition: what the downgrade restores.
OLD_SEARCH_TERMS = r"""
CREATE OR REPLACE FUNCTION rec.search_terms(q text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
BEGIN
  PERFORM rec._check_k(k);
  RETURN QUERY EXECUTE format($f$
    SELECT i.id, ts_rank_cd(i.search_tsv, t.query)::real AS score
    FROM public.items i, websearch_to_tsquery('english', $1) t(query)
    WHERE i.search_tsv @@ t.query AND %s
    ORDER BY score DESC, i.popularity DESC, i.id
    LIMIT $2$f$, rec.filter_sql(filters)) USING q, k;
END $$;
"""

TERMS = r"""
-- One lexeme as a tsquery, optionally restricted to weights ('A', 'BC'); quoted the way
-- tsquery input wants it, so no lexeme can inject operators.
CREATE FUNCTION rec._lexeme_query(lexeme text, weights text DEFAULT '') RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''''
          || CASE WHEN weights = '' THEN '' ELSE ':' || weights END)::tsquery
$$;

-- How rec.search_terms reads q. `match`: what an item must match (any plain word or quoted
-- phrase, and no excluded word or phrase); `terms`: the lexemes that score, each with the
-- query that must match for it to count (the lexeme itself, or its quoted phrase).
-- Plain words are ORed (stemmed, stop words dropped, 'english' config); "a phrase" matches
-- its words in order; -word and -"a phrase" exclude; the word `or` is the default already.
CREATE FUNCTION rec.parse_terms(q text, OUT match tsquery, OUT terms text[],
                                OUT term_queries tsquery[])
-- Stop words make the tsquery functions print NOTICEs; the caller gets an error instead.
LANGUAGE plpgsql STABLE SET client_min_messages = 'warning' AS $$
DECLARE
  max_chars constant integer := 1000;
  max_terms constant integer := 32;
  tok text[];
  clause tsquery;
  positive tsquery := '';
  excluded tsquery := '';
  lex text;
  n_clauses integer := 0;
BEGIN
  terms := '{}';
  term_queries := '{}';
  IF q IS NULL OR length(q) > max_chars THEN
    PERFORM rec._bad('q', to_jsonb(left(q, 80)),
                     format('a text of 1 to %s characters', max_chars));
  END IF;
  -- A token: an optional '-' and a quoted phrase (closing quote optional), or a word.
  FOR tok IN SELECT regexp_matches(q, '(-?)"([^"]*)"?|(\S+)', 'g') LOOP
    n_clauses := n_clauses + 1;
    IF tok[3] IS NULL THEN
      clause := phraseto_tsquery('english', tok[2]);
      CONTINUE WHEN numnode(clause) = 0;
      IF tok[1] = '-' THEN
        excluded := excluded || clause;
        CONTINUE;
      END IF;
      positive := positive || clause;
      FOR lex IN SELECT unnest(tsvector_to_array(to_tsvector('english', tok[2]))) LOOP
        terms := terms || lex;
        term_queries := term_queries || clause;
      END LOOP;
    ELSIF lower(tok[3]) = 'or' THEN
      CONTINUE;
    ELSIF tok[3] ~ '^-.' THEN
      clause := plainto_tsquery('english', substr(tok[3], 2));
      IF numnode(clause) > 0 THEN
        excluded := excluded || clause;
      END IF;
    ELSE
      clause := plainto_tsquery('english', tok[3]);
      CONTINUE WHEN numnode(clause) = 0;
      positive := positive || clause;
      FOR lex IN SELECT unnest(tsvector_to_array(to_tsvector('english', tok[3]))) LOOP
        -- A word repeated counts once.
        CONTINUE WHEN rec._lexeme_query(lex) = ANY (term_queries);
        terms := terms || lex;
        term_queries := term_queries || rec._lexeme_query(lex);
      END LOOP;
    END IF;
  END LOOP;
  IF cardinality(terms) > max_terms OR n_clauses > 2 * max_terms THEN
    PERFORM rec._bad('q', to_jsonb(cardinality(terms)),
                     format('at most %s search terms', max_terms));
  END IF;
  IF numnode(positive) = 0 THEN
    PERFORM rec._bad('q', to_jsonb(q),
                     'at least one word that is neither a stop word nor excluded');
  END IF;
  match := CASE WHEN numnode(excluded) = 0 THEN positive ELSE positive && !!excluded END;
END $$;

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
  FOR pass IN 1..2 LOOP
    SELECT string_agg('(' || u.tq::text || ')', ' | ')::tsquery INTO finder
      FROM unnest(p.term_queries, common) u(tq, c) WHERE pass = 2 OR NOT u.c;
    CONTINUE WHEN finder IS NULL;  -- every term common: the second pass uses them all
    EXECUTE format($f$
    WITH t AS MATERIALIZED (  -- each term's weighted queries parsed once, not per row
      SELECT u.n, u.tq, u.c, rec._lexeme_query(u.term, 'A') AS qa,
             rec._lexeme_query(u.term, 'B') AS qb, rec._lexeme_query(u.term, 'C') AS qc
      FROM unnest($3::text[], $4::tsquery[], $11::boolean[]) WITH ORDINALITY u(term, tq, c, n)
    ), hit AS MATERIALIZED (
      -- One row per (item holding a term, term): the GIN index finds the items.
      SELECT i.id, i.popularity, (i.search_tsv @@ $2 AND %s) AS keep, x.n, x.tf,
             length(i.search_tsv)::float8 AS dl
      FROM public.items i
      CROSS JOIN LATERAL (
        SELECT t.n, $6 * (i.search_tsv @@ t.qa)::int + $7 * (i.search_tsv @@ t.qb)::int
                    + $8 * (i.search_tsv @@ t.qc)::int AS tf
        FROM t WHERE i.search_tsv @@ t.tq) x
      WHERE i.search_tsv @@ $5
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
          common, freq, total, pass;
    -- Enough items found without the common terms (or all terms were used): done.
    EXIT WHEN pass = 2 OR coalesce(cardinality(ids), 0) >= k OR NOT (true = ANY (common));
  END LOOP;
  RETURN QUERY SELECT u.id, u.s FROM unnest(ids, scores) WITH ORDINALITY u(id, s, n)
    ORDER BY u.n;
END $$;
"""

ALSO_LIKED = r"""
-- People who liked these also liked: every item's co-occurrence list (item_cooccurrence,
-- refreshed by `pgrec cooccurrence refresh`) summed over the given items, the items
-- themselves left out. The co-occurrence half of more-like-these (api/fusion.py blends it
-- with the vector centroid).
CREATE FUNCTION rec.also_liked(items bigint[], k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
BEGIN
  PERFORM rec._check_k(k);
  IF cardinality(items) > 1000 THEN
    PERFORM rec._bad('items', to_jsonb(cardinality(items)), 'at most 1000 item ids');
  END IF;
  RETURN QUERY EXECUTE format($f$
    SELECT c.neighbor_id, sum(c.score)::real AS score
    FROM public.item_cooccurrence c JOIN public.items i ON i.id = c.neighbor_id
    WHERE c.item_id = ANY ($1) AND c.neighbor_id <> ALL ($1) AND %s
    GROUP BY c.neighbor_id
    ORDER BY score DESC, c.neighbor_id
    LIMIT $2$f$, rec.filter_sql(filters)) USING coalesce(items, '{}'), k;
END $$;
"""

GRANTS = """
GRANT EXECUTE ON FUNCTION rec._lexeme_query(text, text), rec.parse_terms(text),
  rec.also_liked(bigint[], integer, jsonb) TO pgrec_analyst;
"""


def upgrade() -> None:
    op.execute(TERMS)
    op.execute(ALSO_LIKED)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute("DROP FUNCTION rec.also_liked(bigint[], integer, jsonb)")
    op.execute(OLD_SEARCH_TERMS)
    op.execute("DROP FUNCTION rec.parse_terms(text)")
    op.execute("DROP FUNCTION rec._lexeme_query(text, text)")
