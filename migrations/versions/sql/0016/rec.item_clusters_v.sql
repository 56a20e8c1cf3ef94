CREATE OR REPLACE VIEW rec.item_clusters_v AS
SELECT ic.item_id, i.title, ic.cluster, c.label, c.top_terms, c.size, ic.model
FROM public.item_clusters ic
JOIN public.embedding_models m ON m.name = ic.model AND m.active
JOIN public.items i ON i.id = ic.item_id
LEFT JOIN public.clusters c ON c.model = ic.model AND c.cluster = ic.cluster;
