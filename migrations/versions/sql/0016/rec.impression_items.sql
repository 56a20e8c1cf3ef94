-- One row per served item: an impression's items with their 1-based positions.
CREATE OR REPLACE VIEW rec.impression_items AS
SELECT i.request_id, i.served_at, i.user_id, i.mode, i.variant, i.ranker, i.snapshot_version,
       t.item_id, t.position::integer AS position
FROM public.impressions i
CROSS JOIN LATERAL unnest(i.item_ids) WITH ORDINALITY AS t(item_id, position);
