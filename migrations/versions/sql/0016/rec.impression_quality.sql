-- Per impression: diversity, the mean pairwise cosine distance of its items (active model's
-- vectors), and novelty, the mean -log2 of the share of users who interacted with each item
-- (item_stats). Computed per row: filter on served_at.
CREATE OR REPLACE VIEW rec.impression_quality AS
SELECT i.request_id, i.served_at, i.mode, i.variant,
  (SELECT avg(e1.embedding <=> e2.embedding)
     FROM unnest(i.item_ids) WITH ORDINALITY AS a(item_id, p)
     JOIN unnest(i.item_ids) WITH ORDINALITY AS b(item_id, p) ON a.p < b.p
     JOIN public.item_embeddings e1 ON e1.item_id = a.item_id AND e1.model = m.name
     JOIN public.item_embeddings e2 ON e2.item_id = b.item_id AND e2.model = m.name)
    AS diversity,
  (SELECT avg(-ln((coalesce(s.users, 0) + 1)::float8 / (u.users + 1)) / ln(2))
     FROM unnest(i.item_ids) AS x(item_id)
     LEFT JOIN public.item_stats s ON s.item_id = x.item_id) AS novelty
FROM public.impressions i
CROSS JOIN (SELECT name FROM public.embedding_models WHERE active) m
CROSS JOIN (SELECT count(DISTINCT user_id) AS users FROM public.interactions) u;
