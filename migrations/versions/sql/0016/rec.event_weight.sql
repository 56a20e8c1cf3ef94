-- How much one interaction says the user wants the item; a rating below 2.5 (of 5) is
-- negative and pushes the profile away from the item.
CREATE OR REPLACE FUNCTION rec.event_weight(event text, value real) RETURNS real
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (CASE event
    WHEN 'purchase' THEN 4 WHEN 'like' THEN 3 WHEN 'click' THEN 1 WHEN 'view' THEN 0.5
    WHEN 'rating' THEN coalesce(3 * (least(greatest(value, 0), 5) - 2.5) / 2.5, 0)
    ELSE 0 END)::real
$$;
