-- One lexeme as a tsquery, optionally restricted to weights ('A', 'BC'); quoted the way
-- tsquery input wants it, so no lexeme can inject operators.
CREATE OR REPLACE FUNCTION rec._lexeme_query(lexeme text, weights text DEFAULT '') RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''''
          || CASE WHEN weights = '' THEN '' ELSE ':' || weights END)::tsquery
$$;
