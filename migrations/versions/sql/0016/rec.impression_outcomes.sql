-- Per impression: whether one of its items was clicked or bought by an event quoting its
-- request id (events on items the list did not show do not count).
CREATE OR REPLACE VIEW rec.impression_outcomes AS
SELECT i.request_id, i.served_at, i.user_id, i.mode, i.variant, i.ranker,
       cardinality(i.item_ids) AS items,
       coalesce(o.clicked, false) AS clicked,
       coalesce(o.converted, false) AS converted
FROM public.impressions i
LEFT JOIN LATERAL (
  SELECT bool_or(x.event = 'click') AS clicked, bool_or(x.event = 'purchase') AS converted
  FROM public.interactions x
  WHERE x.request_id = i.request_id AND x.item_id = ANY (i.item_ids)
) o ON true;
