-- Rollups the online gauges, /console and `pgrec impressions stats` read instead of every
-- impression of their window (0019). Reading the window was O(traffic): at 1M impressions
-- (a day at ~12 lists/s) one refresh took 3.4 s of Postgres CPU, every minute, in every API
-- worker. A statement trigger keeps both rollups as impressions are written (the API's
-- COPY, or any INSERT), so every writer maintains them, old API processes during an upgrade
-- included. Their writes wait while this runs: the backfill below reads every retained
-- impression once (~2 s per million). The index the CTR reads on interactions is
-- schema.online_events_index.sql, built without blocking writers.
-- impression_counts: impressions per UTC hour, mode and variant.
CREATE TABLE impression_counts (
    hour timestamptz NOT NULL,
    mode text NOT NULL,
    variant text NOT NULL,
    impressions bigint NOT NULL,
    CONSTRAINT pk_impression_counts PRIMARY KEY (hour, mode, variant)
);
-- item_last_served: when each item was last in a served list, to the minute (a newer
-- serving within a minute of the stored one is not written again).
CREATE TABLE item_last_served (
    item_id bigint NOT NULL,
    served_at timestamptz NOT NULL,
    CONSTRAINT pk_item_last_served PRIMARY KEY (item_id)
);
-- Rows go in key order, so concurrent writers (API workers flushing at once) lock the
-- rollup rows they share in the same order and never deadlock.
CREATE FUNCTION impressions_roll_up() RETURNS trigger LANGUAGE plpgsql
SET search_path = public AS $$
BEGIN
  INSERT INTO impression_counts AS c (hour, mode, variant, impressions)
  SELECT date_trunc('hour', n.served_at, 'UTC'), n.mode, n.variant, count(*)
  FROM new_rows n
  GROUP BY 1, 2, 3
  ORDER BY 1, 2, 3
  ON CONFLICT (hour, mode, variant) DO UPDATE SET impressions = c.impressions + EXCLUDED.impressions;
  -- Items stamped within the minute are left out before the upsert: ON CONFLICT locks the
  -- row it meets even when its WHERE skips the update, a write per row.
  INSERT INTO item_last_served AS s (item_id, served_at)
  SELECT f.item_id, f.served_at
  FROM (SELECT u.item_id, max(n.served_at) AS served_at
        FROM new_rows n, unnest(n.item_ids) AS u(item_id)
        WHERE u.item_id IS NOT NULL
        GROUP BY u.item_id) f
  WHERE NOT EXISTS (SELECT 1 FROM item_last_served o
                    WHERE o.item_id = f.item_id AND o.served_at >= f.served_at - interval '1 minute')
  ORDER BY f.item_id
  ON CONFLICT (item_id) DO UPDATE SET served_at = EXCLUDED.served_at
    WHERE s.served_at < EXCLUDED.served_at - interval '1 minute';
  RETURN NULL;
END $$;

CREATE TRIGGER impressions_roll_up AFTER INSERT ON impressions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION impressions_roll_up();

-- What was written before this migration (the trigger's lock on impressions holds writers
-- off until the migration commits, so nothing is counted twice or missed).
INSERT INTO impression_counts (hour, mode, variant, impressions)
SELECT date_trunc('hour', served_at, 'UTC'), mode, variant, count(*)
FROM impressions
GROUP BY 1, 2, 3;
INSERT INTO item_last_served (item_id, served_at)
SELECT u.item_id, max(i.served_at)
FROM impressions i, unnest(i.item_ids) AS u(item_id)
WHERE u.item_id IS NOT NULL
GROUP BY u.item_id;
