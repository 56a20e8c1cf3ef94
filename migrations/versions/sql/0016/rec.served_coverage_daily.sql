-- Per day: distinct items served, and their share of the catalog (as it is now).
CREATE OR REPLACE VIEW rec.served_coverage_daily AS
SELECT date_trunc('day', served_at) AS day,
       count(DISTINCT item_id) AS served_items,
       (SELECT count(*) FROM public.items) AS catalog_items,
       count(DISTINCT item_id)::float8 / greatest(1, (SELECT count(*) FROM public.items))
         AS coverage
FROM rec.impression_items
GROUP BY 1;
