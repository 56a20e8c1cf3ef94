-- The user's items with their preference: event weights summed per item, decayed by a
-- half-life of 90 days before the user's latest event (never below 1/64: years-old likes
-- still count a little, and vector arithmetic on 1e-30 weights underflows), plus
-- `positive` (weight of the user's strongest item, or 1) and `negative` (minus that).
CREATE OR REPLACE FUNCTION rec.user_history(user_id text, positive bigint[] DEFAULT '{}',
                                 negative bigint[] DEFAULT '{}')
RETURNS TABLE(item_id bigint, weight real, last_at timestamptz)
LANGUAGE sql STABLE SET search_path = public AS $$
  WITH ev AS (
    SELECT x.item_id, x.occurred_at,
           rec.event_weight(x.event, x.value) * greatest(1 / 64.0, power(0.5,
             extract(epoch FROM max(x.occurred_at) OVER () - x.occurred_at)::float8
             / (90 * 86400))) AS w
    FROM public.interactions x WHERE x.user_id = user_history.user_id
  ), per_item AS (
    SELECT ev.item_id, sum(ev.w)::real AS w, max(ev.occurred_at) AS last_at
    FROM ev GROUP BY ev.item_id
  ), top AS (
    -- Never negative: for a user with only low ratings, given likes must still be likes.
    SELECT coalesce(nullif(greatest(max(p.w), 0), 0), 1) AS w,
           coalesce(max(p.last_at), now()) AS at
    FROM per_item p
  )
  SELECT p.item_id, p.w, p.last_at FROM per_item p
  WHERE p.item_id <> ALL (coalesce(positive, '{}') || coalesce(negative, '{}'))
  UNION ALL
  SELECT DISTINCT x.id, CASE WHEN x.id = ANY (coalesce(negative, '{}')) THEN -t.w ELSE t.w END,
         t.at
  FROM unnest(coalesce(positive, '{}') || coalesce(negative, '{}')) x(id), top t
  WHERE EXISTS (SELECT 1 FROM public.items i WHERE i.id = x.id)
$$;
