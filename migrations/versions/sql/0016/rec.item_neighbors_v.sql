CREATE OR REPLACE VIEW rec.item_neighbors_v AS
SELECT n.item_id, i.title, n.rank, n.neighbor_id, j.title AS neighbor_title, n.score, n.model
FROM public.item_neighbors n
JOIN public.embedding_models m ON m.name = n.model AND m.active
JOIN public.items i ON i.id = n.item_id
JOIN public.items j ON j.id = n.neighbor_id;
