-- How rec.search_terms reads q. `match`: what an item must match (any plain word or quoted
-- phrase, and no excluded word or phrase); `terms`: the lexemes that score, each with the
-- query that must match for it to count (the lexeme itself, or its quoted phrase).
-- Plain words are ORed (stemmed, stop words dropped, 'english' config); "a phrase" matches
-- its words in order; -word and -"a phrase" exclude; the word `or` is the default already.
CREATE OR REPLACE FUNCTION rec.parse_terms(q text, OUT match tsquery, OUT terms text[],
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
