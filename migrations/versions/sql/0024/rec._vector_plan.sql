-- The decision behind rec.semantic and rec.vector_plan, on a filter rendered by
-- rec.filter_sql. An exact scan costs about one row fetch per matching row; HNSW with an
-- iterative scan costs about one per candidate it passes over, about k / selectivity, so the
-- exact scan wins below about sqrt(c x catalog) matching rows: the threshold grows with the
-- square root of the catalog (pgrec.exact_rows_scale, default 600: 4,900 rows at 40k items,
-- 24,500 at 1M) unless pgrec.exact_max_rows fixes it. The matching ids are collected once,
-- up to the threshold, and the exact scan reads just those rows (no second pass of the
-- filter). HNSW takes `candidates` rows from an iterative scan whose first beam is
-- ef_search wide (pgrec.ef_search_min, default 200: iterative scans go deeper by themselves
-- for narrow filters, so the beam is sized for broad ones). VOLATILE only because a STABLE
-- function may not run EXPLAIN; it reads and never writes.
-- 0017: a filter estimated over pgrec.estimate_margin x the threshold (was 3) goes to HNSW
-- without counting: near the threshold both paths cost about the same, so only a large error
-- matters, and the count it saves was a quarter of the query at 10% of 40k items.
-- The candidates beyond k are a setting, pgrec.hnsw_extra_min (default 15, as before): at
-- 10% of the 40k bench catalog the first beam of 200 holds ~20 matches, so 15 extra (k + 15
-- = 25 candidates) always costs a second round of the iterative scan; 5 extra took a third
-- less CPU there with recall@10 0.983-0.988 (0.997 with 15), docs/serving.md.
-- 0018: a counted filter takes the exact scan up to pgrec.estimate_margin x the threshold
-- (1.25x, the band in which an estimate still sends it to be counted): near the threshold
-- both paths cost about the same, and a count that went just over the threshold used to be
-- thrown away before HNSW started (a quarter of the query at 10% + year >= 2010 of the 40k
-- bench catalog: 2,451 ids collected for nothing, then 2,613 matching rows searched by
-- HNSW). Now those ids answer the query, exactly.
-- 0020: a filter whose count went over the margin is remembered by the session for
-- pgrec.count_memory seconds (default 60; 0 forgets at once) and goes straight to HNSW
-- meanwhile. The planner's estimate of an attribute filter moves by +-30% with every
-- ANALYZE (it tests a 100-value sample of the column), so a filter of 4,000 rows was
-- estimated under the margin after half of the ANALYZEs of the 40k bench catalog and then
-- counted, for nothing, on every query: ~3-4 ms of its ~12. Only an over-the-margin count is
-- remembered (the exact path needs its ids anyway), and not for filters that exclude ids,
-- whose text changes with every request. `matching` is then the margin plus one, as after
-- the count. Counts change only with writes; for a minute at most a filter that shrank
-- under the margin meanwhile takes HNSW, which answers it too.
-- 0022: a session remembers at most pgrec.count_memory_max filters (default 1,000): each is
-- a custom setting the session keeps until it ends, and a caller who sends ever new broad
-- filters that the planner underestimates (a price bound moved by a cent each time, with a
-- correlated category) would otherwise grow every pooled connection's memory without end.
-- Past the bound a new filter is counted each time, as before 0020; one already held is
-- renewed when its minute has run out and a count goes over the margin again.
-- 0024: the bound holds in transactions that roll back too. 0022 counted the settings in
-- another setting, and a rollback undoes both the count and the value but leaves the name
-- behind (a custom setting, once named, lives as long as the session): an API read on the
-- threaded path, whose transaction ends in a rollback, could still leave one name per
-- filter. The names are now slots: a filter is remembered in slot hash(filter) mod
-- pgrec.count_memory_max (default 1,000), whose value is the filter's md5 and the time, so
-- a session never names more than that many. Two filters on one slot forget each other.
CREATE OR REPLACE FUNCTION rec._vector_plan(k integer, w text, OUT path text,
                                 OUT matching bigint, OUT ef_search integer,
                                 OUT candidates integer, OUT ids bigint[])
LANGUAGE plpgsql VOLATILE SET search_path = public AS $$
DECLARE
  total double precision;
  cap bigint;
  counted bigint;
  est json;
  slot text;
  remembered text;
  digest text;
  slots bigint;
  now_s double precision := extract(epoch FROM clock_timestamp());
BEGIN
  SELECT greatest(c.reltuples, 1) INTO total FROM pg_class c WHERE c.oid = 'public.items'::regclass;
  cap := coalesce(rec._setting('exact_max_rows', NULL),
                  ceil(sqrt(total * rec._setting('exact_rows_scale', 600))))::bigint;
  -- Collected and answered exactly up to this many rows; estimated over it, straight to HNSW.
  counted := ceil(cap * rec._setting('estimate_margin', 1.25))::bigint;
  -- Relaxed order returns nearly sorted batches: a few more than k, re-ranked exactly.
  candidates := k + greatest(rec._setting('hnsw_extra_min', 15), ceil(k / 2.0))::integer;
  IF w = 'true' AND total > cap THEN
    path := 'hnsw';  -- unfiltered: nothing to count
    matching := total::bigint;
  ELSE
    -- A filter the planner expects to match well over the threshold goes to HNSW without
    -- collecting (at 50% of 40k that saves most of the plan's cost): estimates of these
    -- filters err by tens of percent, and too low an estimate only costs a count.
    EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM public.items i WHERE ' || w INTO est;
    IF (est -> 0 -> 'Plan' ->> 'Plan Rows')::double precision > counted THEN
      path := 'hnsw';
      matching := (est -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
      ef_search := least(1000, greatest(rec._setting('ef_search_min', 200), candidates))::integer;
      RETURN;
    END IF;
    -- Otherwise counted: estimates are wrong exactly when filters correlate. Unless this
    -- session counted it over the margin a moment ago.
    digest := md5(w);
    slots := greatest(1, rec._setting('count_memory_max', 1000))::bigint;
    slot := 'pgrec.over_' || ((hashtext(w)::bigint % slots) + slots) % slots;
    remembered := coalesce(current_setting(slot, true), '');  -- '<md5>:<epoch seconds>'
    IF split_part(remembered, ':', 1) = digest
       AND now_s - nullif(split_part(remembered, ':', 2), '')::double precision
           < rec._setting('count_memory', 60) THEN
      path := 'hnsw';
      matching := counted + 1;
      ef_search := least(1000, greatest(rec._setting('ef_search_min', 200), candidates))::integer;
      RETURN;
    END IF;
    EXECUTE format('SELECT array_agg(s.id) FROM (SELECT i.id FROM public.items i WHERE %s LIMIT %s) s',
                   w, counted + 1)
      INTO ids;
    matching := coalesce(cardinality(ids), 0);
    IF matching <= counted THEN
      path := 'exact';
      RETURN;
    END IF;
    path := 'hnsw';
    ids := NULL;
    IF position('i.id <> ALL' IN w) = 0 THEN
      PERFORM set_config(slot, digest || ':' || now_s::text, false);
    END IF;
  END IF;
  ef_search := least(1000, greatest(rec._setting('ef_search_min', 200), candidates))::integer;
END $$;
