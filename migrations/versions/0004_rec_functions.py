"""Schema rec: the retrieval functions analysts and the API share, views, the analyst role.

Every mode is one SQL function returning TABLE(item_id bigint, score real), higher is better;
db/recs calls these same functions. Filters are one jsonb object turned into one WHERE clause
by rec.filter_sql, so every mode filters identically and on the real indexes. The vector
planner (rec.semantic) is described in docs/analysts.md and measured by
tests/integration/test_recall.py.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILTERS = r"""
CREATE SCHEMA rec;
COMMENT ON SCHEMA rec IS 'pgrec retrieval functions and views (docs/analysts.md)';

-- Bad input is SQLSTATE 22023 naming the key and value, so the API can answer 400 with it.
CREATE FUNCTION rec._bad(key text, val jsonb, expected text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RAISE EXCEPTION 'invalid %: % (expected %)', key, val, expected
    USING ERRCODE = '22023', COLUMN = key;
END $$;

CREATE FUNCTION rec._text_array(key text, val jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(val) <> 'array' OR EXISTS (
      SELECT 1 FROM jsonb_array_elements(val) x WHERE jsonb_typeof(x) <> 'string') THEN
    PERFORM rec._bad(key, val, 'an array of strings');
  END IF;
  RETURN ARRAY(SELECT jsonb_array_elements_text(val));
END $$;

CREATE FUNCTION rec._id_array(key text, val jsonb) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(val) <> 'array' OR EXISTS (
      SELECT 1 FROM jsonb_array_elements(val) x
      WHERE jsonb_typeof(x) <> 'number' OR x::numeric <> trunc(x::numeric)
         OR abs(x::numeric) > 9223372036854775807) THEN
    PERFORM rec._bad(key, val, 'an array of integer item ids');
  END IF;
  RETURN ARRAY(SELECT x::numeric::bigint FROM jsonb_array_elements(val) x);
END $$;

CREATE FUNCTION rec._number(key text, val jsonb, integral boolean) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF jsonb_typeof(val) <> 'number'
     OR (integral AND (val::numeric <> trunc(val::numeric) OR abs(val::numeric) > 2147483647))
     OR abs(val::numeric) > 1e12 THEN
    PERFORM rec._bad(key, val, CASE WHEN integral THEN 'an integer' ELSE 'a number' END);
  END IF;
  RETURN val::numeric;
END $$;

-- The one WHERE clause (over items aliased i) that every mode applies. Values become
-- literals through format('%L'); keys are matched against a fixed list, never interpolated.
CREATE FUNCTION rec.filter_sql(filters jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  f jsonb := coalesce(filters, '{}');
  key text;
  val jsonb;
  akey text;
  aval jsonb;
  arr text[];
  ids bigint[];
  cat_op text := '&&';
  parts text[] := '{}';
BEGIN
  IF jsonb_typeof(f) <> 'object' THEN
    PERFORM rec._bad('filters', f, 'a JSON object');
  END IF;
  IF coalesce(jsonb_typeof(f -> 'categories_mode'), 'null') <> 'null' THEN
    IF f -> 'categories_mode' NOT IN ('"any"', '"all"') THEN
      PERFORM rec._bad('categories_mode', f -> 'categories_mode', '"any" or "all"');
    END IF;
    cat_op := CASE f ->> 'categories_mode' WHEN 'all' THEN '@>' ELSE '&&' END;
  END IF;
  FOR key, val IN SELECT e.key, e.value FROM jsonb_each(f) e ORDER BY e.key LOOP
    IF key NOT IN ('categories', 'categories_mode', 'tags', 'kinds', 'year_min', 'year_max',
                   'price_min', 'price_max', 'available', 'attributes', 'exclude_ids') THEN
      RAISE EXCEPTION 'unknown filter %: %', key, val USING ERRCODE = '22023', COLUMN = key,
        HINT = 'known filters: categories, categories_mode, tags, kinds, year_min, year_max, '
               'price_min, price_max, available, attributes, exclude_ids';
    END IF;
    -- JSON null means "not set", like an absent key.
    CONTINUE WHEN jsonb_typeof(val) = 'null' OR key = 'categories_mode';
    CASE key
    WHEN 'categories', 'tags', 'kinds' THEN
      arr := rec._text_array(key, val);
      CONTINUE WHEN cardinality(arr) = 0;
      parts := parts || CASE key
        WHEN 'categories' THEN format('i.categories %s %L::text[]', cat_op, arr)
        WHEN 'tags' THEN format('i.tags && %L::text[]', arr)
        ELSE format('i.kind = ANY (%L::text[])', arr) END;
    WHEN 'year_min' THEN
      parts := parts || format('i.year >= %L::integer', rec._number(key, val, true));
    WHEN 'year_max' THEN
      parts := parts || format('i.year <= %L::integer', rec._number(key, val, true));
    WHEN 'price_min' THEN
      parts := parts || format('i.price >= %L::numeric', rec._number(key, val, false));
    WHEN 'price_max' THEN
      parts := parts || format('i.price <= %L::numeric', rec._number(key, val, false));
    WHEN 'available' THEN
      IF jsonb_typeof(val) <> 'boolean' THEN
        PERFORM rec._bad(key, val, 'true or false');
      END IF;
      parts := parts || CASE WHEN val::boolean THEN 'i.available' ELSE 'NOT i.available' END;
    WHEN 'attributes' THEN
      IF jsonb_typeof(val) <> 'object' THEN
        PERFORM rec._bad(key, val, 'an object of attribute: value');
      END IF;
      FOR akey, aval IN SELECT a.key, a.value FROM jsonb_each(val) a ORDER BY a.key LOOP
        IF jsonb_typeof(aval) NOT IN ('string', 'number', 'boolean') THEN
          PERFORM rec._bad('attributes.' || akey, aval, 'a string, number or boolean');
        END IF;
        -- Equal to a scalar attribute or an element of a list attribute (Netflix country);
        -- both containments use the jsonb_path_ops GIN index.
        parts := parts || format('(i.attributes @> %L::jsonb OR i.attributes @> %L::jsonb)',
          jsonb_build_object(akey, aval), jsonb_build_object(akey, jsonb_build_array(aval)));
      END LOOP;
    WHEN 'exclude_ids' THEN
      ids := rec._id_array(key, val);
      CONTINUE WHEN cardinality(ids) = 0;
      parts := parts || format('i.id <> ALL (%L::bigint[])', ids);
    END CASE;
  END LOOP;
  RETURN coalesce(nullif(array_to_string(parts, ' AND '), ''), 'true');
END $$;

-- filters with more ids excluded (the inputs of more_like, a user's seen items).
CREATE FUNCTION rec._exclude(filters jsonb, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  f jsonb := coalesce(filters, '{}');
BEGIN
  PERFORM rec.filter_sql(f);  -- validate first: the error must name the caller's value
  RETURN jsonb_set(f, '{exclude_ids}', to_jsonb(
    coalesce(rec._id_array('exclude_ids', coalesce(nullif(f -> 'exclude_ids', 'null'), '[]')), '{}')
    || coalesce(ids, '{}')));
END $$;

CREATE FUNCTION rec._check_k(k integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF k IS NULL OR k < 1 OR k > 10000 THEN
    PERFORM rec._bad('k', to_jsonb(k), 'an integer from 1 to 10000');
  END IF;
END $$;

-- (name, dim) of the given model, or of the active one when model is null.
CREATE FUNCTION rec.resolve_model(model text DEFAULT NULL)
RETURNS TABLE(name text, dim integer) LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY SELECT m.name, m.dim FROM public.embedding_models m
    WHERE CASE WHEN resolve_model.model IS NULL THEN m.active
               ELSE m.name = resolve_model.model END;
  IF NOT FOUND THEN
    PERFORM rec._bad('model', to_jsonb(resolve_model.model), 'a registered embedding model');
  END IF;
END $$;
"""

# The planner. Exact answers come from ORDER BY e.embedding <=> q, an expression the partial
# HNSW index (on embedding::vector(dim)) cannot serve, so it is a true scan of the matching
# rows. The index is used only when many rows match (more than pgrec.exact_max_rows and
# pgrec.hnsw_min_fraction of the catalog): then the filter passes often enough for an
# iterative scan with a wide ef_search to find the true neighbours; its candidates are
# re-ranked by exact distance, and fewer than k of them (the scan gave up) means exact.
# Defaults measured on all-MiniLM-L6-v2 vectors of 40k real texts (docs/analysts.md): an
# exact scan of 5000 rows costs about one HNSW search at ef_search 800; HNSW kept recall@10
# >= 0.99 once ef_search x selectivity >= 8 k, and ef_search >= 400 (it is capped at 1000).
VECTOR = r"""
CREATE FUNCTION rec._setting(name text, fallback double precision) RETURNS double precision
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('pgrec.' || name, true), '')::double precision, fallback)
$$;

-- How rec.semantic will answer: path 'exact' or 'hnsw', the matching rows (counted exactly
-- up to the threshold, so 'hnsw' shows the threshold) and the ef_search it will use.
CREATE FUNCTION rec.vector_plan(k integer, filters jsonb DEFAULT '{}', model text DEFAULT NULL,
                                OUT path text, OUT matching bigint, OUT ef_search integer)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  total double precision;
  ef_min double precision := rec._setting('ef_search_min', 400);
  cap bigint;
BEGIN
  PERFORM rec._check_k(k);
  PERFORM rec.resolve_model(model);
  SELECT greatest(c.reltuples, 1) INTO total FROM pg_class c WHERE c.oid = 'public.items'::regclass;
  cap := greatest(rec._setting('exact_max_rows', 5000),
                  ceil(total * rec._setting('hnsw_min_fraction', 0.1)))::bigint + 1;
  -- Counted, not estimated: estimates are wrong exactly when filters correlate. The count
  -- stops at cap, so a broad filter costs a few ms and its selectivity is a lower bound.
  EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM public.items i WHERE %s LIMIT %s) s',
                 rec.filter_sql(filters), cap)
    INTO matching;
  IF matching < cap THEN
    path := 'exact';
    RETURN;
  END IF;
  path := 'hnsw';
  -- About 8k matching rows among the first ef_search candidates (8k / selectivity).
  ef_search := least(1000, greatest(ef_min, ceil(8 * k * greatest(total, matching) / matching)));
END $$;

CREATE FUNCTION rec.semantic(q vector, k integer, filters jsonb DEFAULT '{}',
                             model text DEFAULT NULL)
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE
SET search_path = public SET hnsw.iterative_scan = 'off' SET hnsw.ef_search = '40'
AS $$
DECLARE
  m text;
  d integer;
  w text;
  plan record;
  ids bigint[];
  scores real[];
BEGIN
  SELECT r.name, r.dim INTO m, d FROM rec.resolve_model(model) r;
  IF vector_dims(q) <> d THEN
    PERFORM rec._bad('q', to_jsonb(vector_dims(q)), format('%s dimensions (model %s)', d, m));
  END IF;
  plan := rec.vector_plan(k, filters, m);
  w := rec.filter_sql(filters);
  IF q IS NULL THEN
    RETURN;
  END IF;
  IF plan.path = 'hnsw' THEN
    -- These settings end with the function (its SET clause restores them).
    PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);
    PERFORM set_config('hnsw.ef_search', plan.ef_search::text, true);
    EXECUTE format($f$
      SELECT array_agg(c.item_id ORDER BY c.dist, c.item_id),
             array_agg((1 - c.dist)::real ORDER BY c.dist, c.item_id)
      FROM (SELECT e.item_id, e.embedding <=> $1 AS dist
            FROM public.item_embeddings e JOIN public.items i ON i.id = e.item_id
            WHERE e.model = %L AND %s
            ORDER BY e.embedding::vector(%s) <=> $1
            LIMIT $2) c$f$, m, w, d)
      INTO ids, scores USING q, 2 * k + 10;
    -- relaxed_order returns nearly sorted batches: re-ranked above, cut to k here.
    IF cardinality(ids) >= k THEN
      RETURN QUERY SELECT u.id, u.s FROM unnest(ids, scores) WITH ORDINALITY u(id, s, n)
        WHERE u.n <= k ORDER BY u.n;
      RETURN;
    END IF;
    -- Fewer than k: the scan hit hnsw.max_scan_tuples; only an exact scan is sure.
  END IF;
  -- e.embedding <=> q is not the indexed expression (embedding::vector(dim)), so this is
  -- always a scan of the matching rows, never an approximate index scan.
  RETURN QUERY EXECUTE format($f$
    SELECT e.item_id, (1 - (e.embedding <=> $1))::real
    FROM public.items i JOIN public.item_embeddings e ON e.item_id = i.id AND e.model = %L
    WHERE %s
    ORDER BY e.embedding <=> $1, e.item_id
    LIMIT $2$f$, m, w) USING q, k;
END $$;
"""

ITEM_MODES = r"""
-- The stored neighbour list when it can be trusted (no filters, k within the stored K, and
-- the item's vector is current and older than the last neighbours run's watermark);
-- otherwise a vector search from the item's own vector. Unknown or not yet embedded items
-- give no rows.
CREATE FUNCTION rec.similar_items(item bigint, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  m text;
  v vector;
  fresh boolean;
  f jsonb;
BEGIN
  PERFORM rec._check_k(k);
  f := rec._exclude(filters, ARRAY[similar_items.item]);
  SELECT r.name INTO m FROM rec.resolve_model() r;
  SELECT e.embedding,
         e.content_hash = i.content_hash AND EXISTS (
           SELECT 1 FROM public.refresh_state s
           WHERE s.model = m AND s.job = 'neighbors' AND s.watermark > e.embedded_at)
    INTO v, fresh
    FROM public.items i JOIN public.item_embeddings e ON e.item_id = i.id AND e.model = m
    WHERE i.id = similar_items.item;
  IF v IS NULL THEN
    RETURN;
  END IF;
  IF fresh AND rec.filter_sql(filters) = 'true' AND k <= (
      SELECT count(*) FROM public.item_neighbors n
      WHERE n.model = m AND n.item_id = similar_items.item AND n.rank <= k) THEN
    RETURN QUERY SELECT n.neighbor_id, n.score FROM public.item_neighbors n
      WHERE n.model = m AND n.item_id = similar_items.item AND n.rank <= k ORDER BY n.rank;
    RETURN;
  END IF;
  RETURN QUERY SELECT s.item_id, s.score FROM rec.semantic(v, k, f, m) s;
END $$;

-- The ids (in input order, once each) that have no vector under the model: unknown items
-- and items not embedded yet. more_like reports these instead of failing.
CREATE FUNCTION rec.missing_items(ids bigint[], model text DEFAULT NULL) RETURNS bigint[]
LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT coalesce(array_agg(u.id ORDER BY u.pos), '{}')
  FROM (SELECT x.id, min(x.pos) AS pos FROM unnest(ids) WITH ORDINALITY x(id, pos)
        GROUP BY x.id) u
  WHERE NOT EXISTS (
    SELECT 1 FROM public.item_embeddings e
    WHERE e.item_id = u.id
      AND e.model = (SELECT r.name FROM rec.resolve_model(missing_items.model) r))
$$;

-- Weighted mean of the items' vectors (weights: {"id": w}, default 1); null if none found.
CREATE FUNCTION rec._mean(ids bigint[], weights jsonb, model_name text, dim integer)
RETURNS vector LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT sum(array_fill(x.w, ARRAY[dim])::vector * e.embedding)
         * array_fill((1 / sum(x.w))::real, ARRAY[dim])::vector
  FROM (SELECT DISTINCT u.id, coalesce((weights ->> u.id::text)::real, 1) AS w
        FROM unnest(ids) u(id)) x
  JOIN public.item_embeddings e ON e.item_id = x.id AND e.model = model_name
  HAVING count(*) > 0
$$;

-- The more-like-these query vector: avg_pos + (avg_pos - avg_neg), or avg_pos alone.
CREATE FUNCTION rec.more_like_vector(positive bigint[], negative bigint[] DEFAULT '{}',
                                     weights jsonb DEFAULT NULL, model text DEFAULT NULL)
RETURNS vector LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  m text;
  d integer;
  pos vector;
  neg vector;
  key text;
  val jsonb;
BEGIN
  SELECT r.name, r.dim INTO m, d FROM rec.resolve_model(model) r;
  IF coalesce(jsonb_typeof(weights), 'null') <> 'null' THEN
    IF jsonb_typeof(weights) <> 'object' THEN
      PERFORM rec._bad('weights', weights, 'an object of item id: weight');
    END IF;
    FOR key, val IN SELECT w.key, w.value FROM jsonb_each(weights) w LOOP
      IF key !~ '^[0-9]{1,18}$' OR NOT key::bigint = ANY (positive || negative) THEN
        PERFORM rec._bad('weights', to_jsonb(key), 'ids from positive or negative');
      END IF;
      IF jsonb_typeof(val) <> 'number' OR val::numeric <= 0 OR val::numeric > 1e6 THEN
        PERFORM rec._bad('weights.' || key, val, 'a positive number');
      END IF;
    END LOOP;
  END IF;
  pos := rec._mean(positive, weights, m, d);
  IF pos IS NULL THEN
    RETURN NULL;
  END IF;
  neg := rec._mean(negative, weights, m, d);
  RETURN CASE WHEN neg IS NULL THEN pos ELSE pos + (pos - neg) END;
END $$;

CREATE FUNCTION rec.more_like(positive bigint[], negative bigint[] DEFAULT '{}',
                              k integer DEFAULT 10, filters jsonb DEFAULT '{}',
                              weights jsonb DEFAULT NULL)
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  f jsonb;
  v vector;
BEGIN
  PERFORM rec._check_k(k);
  f := rec._exclude(filters, coalesce(positive, '{}') || coalesce(negative, '{}'));
  v := rec.more_like_vector(positive, coalesce(negative, '{}'), weights);
  -- No usable positive, or negatives that cancel it: nothing to be similar to.
  IF v IS NULL OR vector_norm(v) = 0 THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT s.item_id, s.score FROM rec.semantic(v, k, f) s;
END $$;
"""

USER_MODE = r"""
-- How much one interaction says the user wants the item; a rating below 2.5 (of 5) is
-- negative and pushes the profile away from the item.
CREATE FUNCTION rec.event_weight(event text, value real) RETURNS real
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (CASE event
    WHEN 'purchase' THEN 4 WHEN 'like' THEN 3 WHEN 'click' THEN 1 WHEN 'view' THEN 0.5
    WHEN 'rating' THEN coalesce(3 * (least(greatest(value, 0), 5) - 2.5) / 2.5, 0)
    ELSE 0 END)::real
$$;

-- The user's taste as one vector: sum over interactions of event weight x recency decay
-- (half-life 90 days before the user's latest event) x item vector. Null for an unknown
-- user, or one with nothing positive (cold start is the API's job).
CREATE FUNCTION rec.user_profile(user_id text, model text DEFAULT NULL) RETURNS vector
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  m text;
  d integer;
  v vector;
  positive real;
BEGIN
  SELECT r.name, r.dim INTO m, d FROM rec.resolve_model(model) r;
  WITH ev AS (
    SELECT x.item_id, rec.event_weight(x.event, x.value) * power(0.5,
             extract(epoch FROM max(x.occurred_at) OVER () - x.occurred_at)::float8
             / (90 * 86400)) AS w
    FROM public.interactions x WHERE x.user_id = user_profile.user_id
  ), per_item AS (
    SELECT ev.item_id, sum(ev.w)::real AS w FROM ev GROUP BY ev.item_id
  )
  SELECT sum(array_fill(p.w, ARRAY[d])::vector * e.embedding), sum(greatest(p.w, 0))
    INTO v, positive
    FROM per_item p JOIN public.item_embeddings e ON e.item_id = p.item_id AND e.model = m;
  IF v IS NULL OR positive <= 0 OR vector_norm(v) = 0 THEN
    RETURN NULL;
  END IF;
  RETURN v;
END $$;

CREATE FUNCTION rec.for_user(user_id text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  f jsonb;
  v vector;
BEGIN
  PERFORM rec._check_k(k);
  f := rec._exclude(filters, ARRAY(
    SELECT DISTINCT x.item_id FROM public.interactions x WHERE x.user_id = for_user.user_id));
  v := rec.user_profile(for_user.user_id);
  IF v IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT s.item_id, s.score FROM rec.semantic(v, k, f) s;
END $$;
"""

TEXT_MODES = r"""
CREATE FUNCTION rec.search_terms(q text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
BEGIN
  PERFORM rec._check_k(k);
  RETURN QUERY EXECUTE format($f$
    SELECT i.id, ts_rank_cd(i.search_tsv, t.query)::real AS score
    FROM public.items i, websearch_to_tsquery('english', $1) t(query)
    WHERE i.search_tsv @@ t.query AND %s
    ORDER BY score DESC, i.popularity DESC, i.id
    LIMIT $2$f$, rec.filter_sql(filters)) USING q, k;
END $$;

-- Typo-tolerant: candidates share enough trigrams with the query (the GIN index on
-- pgrec_norm_title(title) serves <%), ranked by how well the whole title matches.
CREATE FUNCTION rec.search_title(q text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE
SET search_path = public SET pg_trgm.word_similarity_threshold = '0.3'
AS $$
BEGIN
  PERFORM rec._check_k(k);
  RETURN QUERY EXECUTE format($f$
    SELECT i.id, ((similarity($1, public.pgrec_norm_title(i.title))
                   + word_similarity($1, public.pgrec_norm_title(i.title))) / 2)::real AS score
    FROM public.items i
    WHERE $1 <%% public.pgrec_norm_title(i.title) AND %s
    ORDER BY score DESC, i.popularity DESC, i.id
    LIMIT $2$f$, rec.filter_sql(filters)) USING public.pgrec_norm_title(q), k;
END $$;
"""

VIEWS = """
CREATE VIEW rec.item_neighbors_v AS
SELECT n.item_id, i.title, n.rank, n.neighbor_id, j.title AS neighbor_title, n.score, n.model
FROM public.item_neighbors n
JOIN public.embedding_models m ON m.name = n.model AND m.active
JOIN public.items i ON i.id = n.item_id
JOIN public.items j ON j.id = n.neighbor_id;

CREATE VIEW rec.clusters_v AS
SELECT c.cluster, c.size, c.label, c.top_terms, c.model
FROM public.clusters c JOIN public.embedding_models m ON m.name = c.model AND m.active;

CREATE VIEW rec.item_clusters_v AS
SELECT ic.item_id, i.title, ic.cluster, c.label, c.top_terms, c.size, ic.model
FROM public.item_clusters ic
JOIN public.embedding_models m ON m.name = ic.model AND m.active
JOIN public.items i ON i.id = ic.item_id
LEFT JOIN public.clusters c ON c.model = ic.model AND c.cluster = ic.cluster;
"""

# Roles are cluster-wide and several databases (the test clones) share one server: create the
# role if missing, grant in this database only.
ROLE = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgrec_analyst') THEN
    CREATE ROLE pgrec_analyst NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;  -- another database's migration created it at the same moment
END $$;
GRANT USAGE ON SCHEMA rec, public TO pgrec_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA public, rec TO pgrec_analyst;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA rec TO pgrec_analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO pgrec_analyst;
"""

DROP_ROLE = """
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgrec_analyst') THEN
    -- This database's grants (and default privileges) only.
    DROP OWNED BY pgrec_analyst;
    BEGIN
      DROP ROLE pgrec_analyst;
    EXCEPTION WHEN dependent_objects_still_exist THEN
      NULL;  -- other databases still grant to it; the last one to downgrade drops it
    END;
  END IF;
END $$;
"""


def upgrade() -> None:
    for sql in (FILTERS, VECTOR, ITEM_MODES, USER_MODE, TEXT_MODES, VIEWS, ROLE):
        op.execute(sql)


def downgrade() -> None:
    op.execute("DROP SCHEMA rec CASCADE")
    op.execute(DROP_ROLE)
