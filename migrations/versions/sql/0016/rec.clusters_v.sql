CREATE OR REPLACE VIEW rec.clusters_v AS
SELECT c.cluster, c.size, c.label, c.top_terms, c.model
FROM public.clusters c JOIN public.embedding_models m ON m.name = c.model AND m.active;
