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
-- counted over the items that hold any query term (one GIN scan that also yields the
-- candidates); the average length is over those items too, so nothing goes stale and no
-- job has to keep statistics. Field weights, k1 and b are settings (pgrec.terms_*); the
-- defaults were chosen on the tuning half of the judged queries (bench/eval_tuning.py).
CREATE OR REPLACE FUNCTION rec.search_terms(q text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  p record;
  w text;
  any_term tsquery;
BEGIN
  PERFORM rec._check_k(k);
  w := rec.filter_sql(filters);
  p := rec.parse_terms(q);
  SELECT coalesce(string_agg('(' || x::text || ')', ' | '), '')::tsquery INTO any_term
    FROM unnest(p.term_queries) x;
  RETURN QUERY EXECUTE format($f$
    WITH t AS MATERIALIZED (  -- each term's weighted queries parsed once, not per row
      SELECT u.n, u.tq, rec._lexeme_query(u.term, 'A') AS qa,
             rec._lexeme_query(u.term, 'B') AS qb, rec._lexeme_query(u.term, 'C') AS qc
      FROM unnest($3::text[], $4::tsquery[]) WITH ORDINALITY u(term, tq, n)
    ), cand AS MATERIALIZED (
      SELECT i.id, i.popularity, i.search_tsv AS tsv, (i.search_tsv @@ $2 AND %s) AS keep
      FROM public.items i WHERE i.search_tsv @@ $5
    ), hit AS (
      SELECT c.id, c.keep, t.n,
             $6 * (c.tsv @@ t.qa)::int + $7 * (c.tsv @@ t.qb)::int
             + $8 * (c.tsv @@ t.qc)::int AS tf,
             length(c.tsv) / avg(length(c.tsv)) OVER () AS rel_len
      FROM cand c JOIN t ON c.tsv @@ t.tq
    ), stats AS (
      SELECT greatest(c.reltuples, (SELECT count(*) FROM cand))::float8 AS total
      FROM pg_class c WHERE c.oid = 'public.items'::regclass
    ), idf AS (
      SELECT h.n, ln(1 + (s.total - count(*) + 0.5) / (count(*) + 0.5)) AS idf
      FROM hit h, stats s GROUP BY h.n, s.total
    )
    SELECT h.id,
           sum(f.idf * h.tf * ($9 + 1) / (h.tf + $9 * (1 - $10 + $10 * h.rel_len)))::real AS s
    FROM hit h JOIN idf f USING (n) JOIN cand c USING (id)
    WHERE h.keep
    GROUP BY h.id, c.popularity
    ORDER BY s DESC, c.popularity DESC, h.id
    LIMIT $1$f$, w)
  USING k, p.match, p.terms, p.term_queries, any_term,
        rec._setting('terms_title', 3), rec._setting('terms_tags', 2),
        rec._setting('terms_description', 1),
        rec._setting('terms_k1', 1.2), rec._setting('terms_b', 0.75);
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
