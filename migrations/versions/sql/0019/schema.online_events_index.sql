-- The clicks and purchases that name a served list, by time: what the online CTR reads
-- (0019). CONCURRENTLY: interactions keep being written while it builds (the migration runs
-- it outside its transaction, before the rollups).
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_interactions_request_time ON interactions (occurred_at)
    WHERE request_id IS NOT NULL;
