CREATE OR REPLACE VIEW rec.item_cooccurrence_v AS
SELECT c.item_id, i.title, c.rank, c.neighbor_id, j.title AS neighbor_title, c.score, c.users
FROM public.item_cooccurrence c
JOIN public.items i ON i.id = c.item_id
JOIN public.items j ON j.id = c.neighbor_id;
