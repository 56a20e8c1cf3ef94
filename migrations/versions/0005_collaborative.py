"""collaborative: co-occurrence, item stats, ranking models, and the hybrid user mode.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _item_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["items.id"], name=op.f(f"fk_{table}_{column}_items"), ondelete="CASCADE"
    )


def _tables() -> None:
    # The fresh source: newest first, ties (a bulk load shares one timestamp) by id.
    op.create_index("ix_items_created_at", "items", ["created_at", "id"])
    op.create_table(
        "item_cooccurrence",
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("neighbor_id", sa.BigInteger(), nullable=False),
        sa.Column("score", postgresql.REAL(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.CheckConstraint("rank >= 1", name=op.f("ck_item_cooccurrence_rank_positive")),
        sa.CheckConstraint("neighbor_id <> item_id", name=op.f("ck_item_cooccurrence_not_self")),
        _item_fk("item_cooccurrence", "item_id"),
        _item_fk("item_cooccurrence", "neighbor_id"),
        sa.PrimaryKeyConstraint("item_id", "rank", name=op.f("pk_item_cooccurrence")),
    )
    op.create_index("ix_item_cooccurrence_neighbor_id", "item_cooccurrence", ["neighbor_id"])
    op.create_table(
        "item_stats",
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("positive_users", sa.Integer(), nullable=False),
        sa.Column("preference", postgresql.REAL(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        _item_fk("item_stats", "item_id"),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_item_stats")),
    )
    op.create_index("ix_item_stats_preference", "item_stats", [sa.text("preference DESC")])
    op.create_table(
        "ranking_models",
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("features", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("trained_on", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_ranking_models")),
    )
    op.create_index(
        "uq_ranking_models_one_active",
        "ranking_models",
        [sa.text("(true)")],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "job_state",
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column(
            "ran_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("seconds", postgresql.REAL(), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "job IN ('cooccurrence', 'ranker')", name=op.f("ck_job_state_job_known")
        ),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_job_state")),
    )


# Functions of the hybrid user mode. Candidates come from several sources (co-occurrence
# lists of the user's recent likes, a semantic search per interest, popular and fresh items,
# all within the filters), every candidate gets the same features, the active ranking model
# (or the documented fallback weights) scores them, and the list is interleaved across the
# user's interests. Training (jobs/ranker.py) calls rec.user_candidates too, so the features
# the model learns from are the ones it is served.
COLLAB = r"""
-- 0004's rec._mean failed on an empty id list (array_fill of a null before HAVING applied),
-- so more_like with no negatives raised instead of ignoring them. Same signature and result
-- otherwise; the downgrade keeps this version.
CREATE OR REPLACE FUNCTION rec._mean(ids bigint[], weights jsonb, model_name text, dim integer)
RETURNS vector LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT CASE WHEN count(*) > 0 THEN
           sum(array_fill(x.w, ARRAY[dim])::vector * e.embedding)
           * array_fill((1 / sum(x.w))::real, ARRAY[dim])::vector
         END
  FROM (SELECT DISTINCT u.id, coalesce((weights ->> u.id::text)::real, 1) AS w
        FROM unnest(ids) u(id)) x
  JOIN public.item_embeddings e ON e.item_id = x.id AND e.model = model_name
$$;
-- 0004's rec.user_profile underflowed (pgvector raises on it) for users whose events span
-- years: decayed weights of 1e-30 times vector elements. Same floor as rec.user_history;
-- the downgrade keeps this version.
CREATE OR REPLACE FUNCTION rec.user_profile(user_id text, model text DEFAULT NULL) RETURNS vector
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  m text;
  d integer;
  v vector;
  positive real;
BEGIN
  SELECT r.name, r.dim INTO m, d FROM rec.resolve_model(model) r;
  WITH ev AS (
    SELECT x.item_id, rec.event_weight(x.event, x.value) * greatest(1 / 64.0, power(0.5,
             extract(epoch FROM max(x.occurred_at) OVER () - x.occurred_at)::float8
             / (90 * 86400))) AS w
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

-- Popular within the filters: most preferred by users (item_stats), then, for items nobody
-- interacted with yet, the catalog's own popularity column. The cold-start list.
CREATE FUNCTION rec.popular(k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  w text;
  got integer;
BEGIN
  PERFORM rec._check_k(k);
  w := rec.filter_sql(filters);
  RETURN QUERY EXECUTE format($f$
    SELECT i.id, ln(1 + s.preference)::real
    FROM public.item_stats s JOIN public.items i ON i.id = s.item_id
    WHERE s.preference > 0 AND %s
    ORDER BY s.preference DESC, i.id LIMIT $1$f$, w) USING k;
  GET DIAGNOSTICS got = ROW_COUNT;
  IF got < k THEN
    RETURN QUERY EXECUTE format($f$
      SELECT i.id, 0::real FROM public.items i
      WHERE %s AND NOT EXISTS (
        SELECT 1 FROM public.item_stats s WHERE s.item_id = i.id AND s.preference > 0)
      ORDER BY i.popularity DESC, i.id LIMIT $1$f$, w) USING k - got;
  END IF;
END $$;

-- "People who liked this also liked": the item's co-occurrence list within the filters.
CREATE FUNCTION rec.cooccurring(item bigint, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
BEGIN
  PERFORM rec._check_k(k);
  RETURN QUERY EXECUTE format($f$
    SELECT c.neighbor_id, c.score
    FROM public.item_cooccurrence c JOIN public.items i ON i.id = c.neighbor_id
    WHERE c.item_id = $1 AND %s
    ORDER BY c.rank LIMIT $2$f$, rec.filter_sql(filters)) USING item, k;
END $$;

-- The user's items with their preference: event weights summed per item, decayed by a
-- half-life of 90 days before the user's latest event (never below 1/64: years-old likes
-- still count a little, and vector arithmetic on 1e-30 weights underflows), plus
-- `positive` (weight of the user's strongest item, or 1) and `negative` (minus that).
CREATE FUNCTION rec.user_history(user_id text, positive bigint[] DEFAULT '{}',
                                 negative bigint[] DEFAULT '{}')
RETURNS TABLE(item_id bigint, weight real, last_at timestamptz)
LANGUAGE sql STABLE SET search_path = public AS $$
  WITH ev AS (
    SELECT x.item_id, x.occurred_at,
           rec.event_weight(x.event, x.value) * greatest(1 / 64.0, power(0.5,
             extract(epoch FROM max(x.occurred_at) OVER () - x.occurred_at)::float8
             / (90 * 86400))) AS w
    FROM public.interactions x WHERE x.user_id = user_history.user_id
  ), per_item AS (
    SELECT ev.item_id, sum(ev.w)::real AS w, max(ev.occurred_at) AS last_at
    FROM ev GROUP BY ev.item_id
  ), top AS (
    -- Never negative: for a user with only low ratings, given likes must still be likes.
    SELECT coalesce(nullif(greatest(max(p.w), 0), 0), 1) AS w,
           coalesce(max(p.last_at), now()) AS at
    FROM per_item p
  )
  SELECT p.item_id, p.w, p.last_at FROM per_item p
  WHERE p.item_id <> ALL (coalesce(positive, '{}') || coalesce(negative, '{}'))
  UNION ALL
  SELECT DISTINCT x.id, CASE WHEN x.id = ANY (coalesce(negative, '{}')) THEN -t.w ELSE t.w END,
         t.at
  FROM unnest(coalesce(positive, '{}') || coalesce(negative, '{}')) x(id), top t
  WHERE EXISTS (SELECT 1 FROM public.items i WHERE i.id = x.id)
$$;

-- A user's interests: their liked items (the 100 most recent with a vector) split by
-- farthest-point seeding (a new seed must be at cosine distance >= pgrec.interest_distance,
-- default 0.5, from the others) and two assignment passes; an interest holding less than
-- 10% of the weight is merged into the nearest other. `label`: the interest's heaviest
-- category (or its heaviest item's title); `items`: its items, heaviest first.
CREATE FUNCTION rec.user_interests(user_id text, max_interests integer DEFAULT 3,
                                   positive bigint[] DEFAULT '{}', negative bigint[] DEFAULT '{}')
RETURNS TABLE(interest integer, weight real, share real, centroid vector, items bigint[],
              label text)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  m text;
  d integer;
  ids bigint[];
  ws real[];
  vs vector[];
  seeds vector[];
  cand vector;
  dist double precision;
  min_distance double precision := rec._setting('interest_distance', 0.5);
  pass integer;
BEGIN
  IF max_interests IS NULL OR max_interests < 1 OR max_interests > 10 THEN
    PERFORM rec._bad('max_interests', to_jsonb(max_interests), 'an integer from 1 to 10');
  END IF;
  SELECT em.name, em.dim INTO m, d FROM public.embedding_models em WHERE em.active;
  IF m IS NULL THEN
    RETURN;
  END IF;
  SELECT array_agg(h.item_id ORDER BY h.weight DESC, h.last_at DESC, h.item_id),
         array_agg(h.weight ORDER BY h.weight DESC, h.last_at DESC, h.item_id),
         array_agg(e.embedding ORDER BY h.weight DESC, h.last_at DESC, h.item_id)
    INTO ids, ws, vs
    FROM (SELECT * FROM rec.user_history(user_interests.user_id, positive, negative) uh
          WHERE uh.weight > 0 ORDER BY uh.last_at DESC, uh.item_id LIMIT 100) h
    JOIN public.item_embeddings e ON e.item_id = h.item_id AND e.model = m;
  IF ids IS NULL THEN
    RETURN;
  END IF;
  seeds := ARRAY[vs[1]];
  WHILE cardinality(seeds) < max_interests LOOP
    SELECT u.v, (SELECT min(u.v <=> s) FROM unnest(seeds) s) AS md INTO cand, dist
      FROM unnest(vs) WITH ORDINALITY u(v, n) ORDER BY md DESC, u.n LIMIT 1;
    EXIT WHEN dist < min_distance;
    seeds := seeds || cand;
  END LOOP;
  FOR pass IN 1..2 LOOP
    SELECT array_agg(c.centroid ORDER BY c.g) INTO seeds FROM (
      SELECT a.g, sum(array_fill(a.w, ARRAY[d])::vector * a.v)
                  * array_fill((1 / sum(a.w))::real, ARRAY[d])::vector AS centroid
      FROM (SELECT u.w, u.v, (SELECT s.n FROM unnest(seeds) WITH ORDINALITY s(c, n)
                              ORDER BY u.v <=> s.c, s.n LIMIT 1) AS g
            FROM unnest(ws, vs) u(w, v)) a
      GROUP BY a.g
      HAVING pass = 1 OR sum(a.w) >= 0.1 * (SELECT sum(x) FROM unnest(ws) x)) c;
  END LOOP;
  RETURN QUERY
    WITH a AS (
      SELECT u.id, u.w, u.n, (SELECT s.n FROM unnest(seeds) WITH ORDINALITY s(c, n)
                              ORDER BY u.v <=> s.c, s.n LIMIT 1)::integer AS g
      FROM unnest(ids, ws, vs) WITH ORDINALITY u(id, w, v, n)
    ), g AS (
      SELECT a.g, sum(a.w)::real AS w, array_agg(a.id ORDER BY a.n) AS members FROM a GROUP BY a.g
    )
    SELECT g.g, g.w, (g.w / sum(g.w) OVER ())::real, seeds[g.g], g.members,
           coalesce((SELECT c.cat FROM a JOIN public.items i ON i.id = a.id,
                       unnest(i.categories) c(cat)
                     WHERE a.g = g.g GROUP BY c.cat ORDER BY sum(a.w) DESC, c.cat LIMIT 1),
                    (SELECT i.title FROM public.items i WHERE i.id = g.members[1]))
    FROM g ORDER BY g.w DESC, g.g;
END $$;

-- The features every candidate gets, in the order of rec.user_candidates' `features`:
-- cooc: ln(1 + sum over the user's recent likes s of weight(s) x cooccurrence(s, item));
-- cooc_max: the largest single co-occurrence score; cooc_hits: ln(1 + lists it is in);
-- sem: cosine to the closest interest; sem_profile: cosine to the whole profile;
-- pop: ln(1 + item_stats.preference); cat_overlap: the mean share of the user's liked
-- weight in the item's categories; year_gap: |year - the user's mean year| / 10, capped at 5;
-- fresh: exp(-age in days / 30) of items.created_at.
CREATE FUNCTION rec.ranker_features() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['cooc', 'cooc_max', 'cooc_hits', 'sem', 'sem_profile', 'pop', 'cat_overlap',
               'year_gap', 'fresh']
$$;

-- Which source each feature speaks for: how an explanation picks its reason.
CREATE FUNCTION rec._feature_sources() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['cooc', 'cooc', 'cooc', 'interest', 'interest', 'popular', 'interest',
               'interest', 'fresh']
$$;

-- Every candidate for a user with its features. Sources, each within the filters and
-- without the user's items: co-occurrence of the 50 most recent likes, a semantic search
-- per interest (per_source in proportion to its share, at least 10), popular items, fresh
-- items (per_source each, fresh a fifth of that).
-- `interest`: the closest interest (null without vectors), with its share, label and items
-- (heaviest first); `because`: the two likes whose co-occurrence lists add most (null when
-- none lists the item).
CREATE FUNCTION rec.user_candidates(user_id text, filters jsonb DEFAULT '{}',
                                    per_source integer DEFAULT 100,
                                    positive bigint[] DEFAULT '{}',
                                    negative bigint[] DEFAULT '{}')
RETURNS TABLE(item_id bigint, features real[], sources text[], interest integer,
              because bigint[], interest_share real, interest_label text,
              interest_items bigint[])
LANGUAGE plpgsql STABLE
-- Candidates, not answers: each interest's search may use a narrower HNSW beam.
SET search_path = public SET pgrec.ef_search_min = '100'
AS $$
DECLARE
  m text;
  f jsonb;
  seen bigint[];
BEGIN
  IF per_source IS NULL OR per_source < 1 OR per_source > 1000 THEN
    PERFORM rec._bad('per_source', to_jsonb(per_source), 'an integer from 1 to 1000');
  END IF;
  SELECT em.name INTO m FROM public.embedding_models em WHERE em.active;
  seen := ARRAY(SELECT DISTINCT x.item_id FROM public.interactions x
                WHERE x.user_id = user_candidates.user_id)
          || coalesce(positive, '{}') || coalesce(negative, '{}');
  f := rec._exclude(filters, seen);
  RETURN QUERY EXECUTE format($f$
    WITH hist AS (
      SELECT * FROM rec.user_history($1, $4, $5)
    ), likes AS (
      SELECT h.item_id, h.weight / max(h.weight) OVER () AS w
      FROM hist h WHERE h.weight > 0 ORDER BY h.last_at DESC, h.item_id LIMIT 50
    ), interests AS (
      SELECT * FROM rec.user_interests($1, 3, $4, $5)
    ), profile AS (
      SELECT sum(array_fill(t.share, ARRAY[vector_dims(t.centroid)])::vector * t.centroid) AS v
      FROM interests t
    ), cats AS (
      SELECT c.cat, sum(l.w) / (SELECT sum(w) FROM likes) AS share
      FROM likes l JOIN public.items i ON i.id = l.item_id, unnest(i.categories) c(cat)
      GROUP BY c.cat
    ), user_year AS (
      SELECT sum(l.w * i.year) / nullif(sum(l.w) FILTER (WHERE i.year IS NOT NULL), 0) AS y
      FROM likes l JOIN public.items i ON i.id = l.item_id
    ), cooc AS (
      SELECT c.neighbor_id AS id, sum(l.w * c.score) AS total, max(c.score) AS best,
             count(*) AS hits, (array_agg(c.item_id ORDER BY l.w * c.score DESC, c.item_id))[1:2]
             AS because
      FROM likes l JOIN public.item_cooccurrence c ON c.item_id = l.item_id
      JOIN public.items i ON i.id = c.neighbor_id
      WHERE %1$s
      GROUP BY c.neighbor_id
    ), pool AS (
      SELECT s.id, s.src FROM (
        (SELECT c.id, 'cooc' AS src FROM cooc c ORDER BY c.total DESC, c.id LIMIT $2)
        UNION ALL
        SELECT s.item_id, 'interest' FROM interests t
          CROSS JOIN LATERAL rec.semantic(t.centroid, greatest(10, ceil($2 * t.share))::int, $3) s
        UNION ALL
        SELECT p.item_id, 'popular' FROM rec.popular($2, $3) p
        UNION ALL
        (SELECT i.id, 'fresh' FROM public.items i WHERE %1$s
         ORDER BY i.created_at DESC, i.id DESC LIMIT greatest(1, $2 / 5))
      ) s
    ), cand AS (
      SELECT p.id, array_agg(DISTINCT p.src ORDER BY p.src) AS sources FROM pool p GROUP BY p.id
    )
    SELECT c.id,
      ARRAY[
        ln(1 + coalesce(co.total, 0)),
        coalesce(co.best, 0),
        ln(1 + coalesce(co.hits, 0)),
        coalesce(near.sim, 0),
        coalesce(1 - (e.embedding <=> (SELECT v FROM profile)), 0),
        ln(1 + coalesce(st.preference, 0)),
        coalesce((SELECT sum(ct.share) FROM cats ct WHERE ct.cat = ANY (i.categories))
                 / nullif(cardinality(i.categories), 0), 0),
        coalesce(least(abs(i.year - (SELECT y FROM user_year)) / 10.0, 5), 1),
        exp(-least(extract(epoch FROM now() - i.created_at) / 86400 / 30, 50))
      ]::real[],
      c.sources,
      near.interest,
      co.because,
      near.share,
      near.label,
      near.items
    FROM cand c
    JOIN public.items i ON i.id = c.id
    LEFT JOIN public.item_embeddings e ON e.item_id = c.id AND e.model = $6
    LEFT JOIN cooc co ON co.id = c.id
    LEFT JOIN public.item_stats st ON st.item_id = c.id
    LEFT JOIN LATERAL (
      SELECT t.interest, t.share, t.label, t.items, (1 - (e.embedding <=> t.centroid))::real AS sim
      FROM interests t
      WHERE e.embedding IS NOT NULL ORDER BY e.embedding <=> t.centroid, t.interest LIMIT 1
    ) near ON true
    ORDER BY c.id$f$, rec.filter_sql(f))
    USING user_candidates.user_id, per_source, f, positive, negative, m;
END $$;

-- The scoring stage's parameters: the active ranking model's, or the fallback weights
-- (coefficients on the raw features: co-occurrence first, then interest similarity,
-- then popularity) when none is trained; version 'fallback' names the latter. cooc_hits
-- and pop weigh 0 and 0.05: both favour the items in everybody's lists, and with more
-- weight catalog coverage fell below 10% in `pgrec eval` (docs/ranker.md). A session
-- may pick another: SET pgrec.ranker = 'fallback' or = '<version>' (to compare versions).
CREATE FUNCTION rec.ranker(OUT version text, OUT mean real[], OUT scale real[],
                           OUT coef real[], OUT intercept real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  wanted text := nullif(current_setting('pgrec.ranker', true), '');
BEGIN
  IF wanted IS DISTINCT FROM 'fallback' THEN
    SELECT r.version,
           ARRAY(SELECT jsonb_array_elements_text(r.params -> 'mean')::real),
           ARRAY(SELECT jsonb_array_elements_text(r.params -> 'scale')::real),
           ARRAY(SELECT jsonb_array_elements_text(r.params -> 'coef')::real),
           (r.params ->> 'intercept')::real
      INTO version, mean, scale, coef, intercept
      FROM public.ranking_models r
      WHERE r.features = rec.ranker_features()
        AND CASE WHEN wanted IS NULL THEN r.active ELSE r.version = wanted END;
    IF version IS NULL AND wanted IS NOT NULL THEN
      PERFORM rec._bad('pgrec.ranker', to_jsonb(wanted),
                       '''fallback'' or a ranking_models version with the current features');
    END IF;
  END IF;
  IF version IS NULL THEN
    version := 'fallback';
    mean := array_fill(0::real, ARRAY[9]);
    scale := array_fill(1::real, ARRAY[9]);
    --             cooc cooc_max hits  sem  sem_profile pop  cat_overlap year_gap fresh
    coef := ARRAY[ 2.0, 1.0,     0.0,  1.0, 0.5,        0.05, 0.3,       -0.1,    0.1]::real[];
    intercept := 0;
  END IF;
END $$;

-- The hybrid user mode with its reasons. Candidates are scored by rec.ranker(); each
-- interest then takes places in proportion to its share of the user's likes (an item of an
-- interest with share s and rank r among that interest's items is placed at r / s), so a
-- user with two tastes sees both. An unknown user (or one with nothing liked) gets the
-- popular and fresh items within the filters.
-- `source`: the source whose features add most to the score (cooc, interest, popular,
-- fresh); `reason`: that source in words; `because`: the items the reason names.
CREATE FUNCTION rec.for_user_explained(user_id text, k integer, filters jsonb DEFAULT '{}',
                                       positive bigint[] DEFAULT '{}',
                                       negative bigint[] DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real, source text, reason text, because bigint[])
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  r record;
  interleave boolean := rec._setting('interleave', 1) > 0;
BEGIN
  PERFORM rec._check_k(k);
  r := rec.ranker();
  RETURN QUERY
    WITH scored AS (
      -- score: sigmoid of the model's logit (the fallback's sum too): in (0, 1), so the
      -- API's re-ranking, which normalises non-negative relevance, works with any model.
      SELECT c.item_id, c.interest, c.interest_share AS share, c.interest_label AS label,
             CASE s.source WHEN 'cooc' THEN c.because WHEN 'interest' THEN c.interest_items[1:2]
             END AS because,
             r.intercept + s.total AS raw,
             (1 / (1 + exp(-least(greatest(r.intercept + s.total, -30), 30))))::real AS score,
             s.source
      FROM rec.user_candidates(for_user_explained.user_id, filters,
                               least(1000, greatest(50, 3 * k)), positive, negative) c,
      LATERAL (
        -- The reason is the source adding most among those that retrieved the item.
        SELECT coalesce(sum(g.part), 0) AS total,
               coalesce((array_agg(g.src ORDER BY g.part DESC NULLS LAST, g.n)
                           FILTER (WHERE g.src = ANY (c.sources)))[1], c.sources[1]) AS source
        FROM (SELECT x.src, sum(x.cf * (x.x - x.mu) / nullif(x.sd, 0)) AS part, min(x.n) AS n
              FROM unnest(c.features, r.coef, r.mean, r.scale, rec._feature_sources())
                   WITH ORDINALITY x(x, cf, mu, sd, src, n)
              GROUP BY x.src) g
      ) s
    ), placed AS (
      SELECT s.*,
             CASE WHEN interleave AND s.share IS NOT NULL
                  THEN row_number() OVER (PARTITION BY s.interest ORDER BY s.raw DESC, s.item_id)
                       / s.share
                  ELSE row_number() OVER (ORDER BY s.raw DESC, s.item_id) END AS place
      FROM scored s
    )
    SELECT p.item_id, p.score, p.source,
      CASE
        WHEN p.source = 'cooc' THEN 'liked ' || rec._titles(p.because)
        WHEN p.source = 'interest' AND p.label IS NOT NULL
          THEN 'similar to your interest: ' || p.label || ' (' || rec._titles(p.because) || ')'
        WHEN p.source = 'fresh' THEN 'new' || rec._in_category(p.item_id, filters)
        ELSE 'popular' || rec._in_category(p.item_id, filters)
      END,
      coalesce(p.because, '{}')
    FROM placed p
    ORDER BY p.place, p.raw DESC, p.item_id
    LIMIT k;
END $$;

-- "Alien and Aliens", "A, B and C": the titles of items, in order.
CREATE FUNCTION rec._titles(ids bigint[]) RETURNS text
LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT CASE WHEN count(*) = 1 THEN min(t.title)
              ELSE string_agg(t.title, ', ' ORDER BY t.n) FILTER (WHERE t.n < max_n)
                   || ' and ' || (array_agg(t.title ORDER BY t.n DESC))[1] END
  FROM (SELECT i.title, u.n, max(u.n) OVER () AS max_n
        FROM unnest(ids) WITH ORDINALITY u(id, n) JOIN public.items i ON i.id = u.id) t
$$;

-- " in Documentaries": the filter's first category the item has, else its own first one.
CREATE FUNCTION rec._in_category(item bigint, filters jsonb) RETURNS text
LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT coalesce(' in ' || coalesce(
    (SELECT c.cat FROM jsonb_array_elements_text(
       CASE WHEN jsonb_typeof(filters -> 'categories') = 'array' THEN filters -> 'categories'
            ELSE '[]' END) WITH ORDINALITY c(cat, n)
     WHERE c.cat = ANY (i.categories) ORDER BY c.n LIMIT 1),
    i.categories[1]), '')
  FROM public.items i WHERE i.id = item
$$;

-- The hybrid user mode as (item_id, score): what GET /users/{id}/recommendations serves.
CREATE OR REPLACE FUNCTION rec.for_user(user_id text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT e.item_id, e.score FROM rec.for_user_explained(user_id, k, filters) e
$$;

-- 0004's user mode, one centroid of the user's interactions: kept as a component.
CREATE FUNCTION rec.for_user_centroid(user_id text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE plpgsql STABLE SET search_path = public AS $$
DECLARE
  f jsonb;
  v vector;
BEGIN
  PERFORM rec._check_k(k);
  f := rec._exclude(filters, ARRAY(
    SELECT DISTINCT x.item_id FROM public.interactions x
    WHERE x.user_id = for_user_centroid.user_id));
  v := rec.user_profile(for_user_centroid.user_id);
  IF v IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT s.item_id, s.score FROM rec.semantic(v, k, f) s;
END $$;

CREATE VIEW rec.item_cooccurrence_v AS
SELECT c.item_id, i.title, c.rank, c.neighbor_id, j.title AS neighbor_title, c.score, c.users
FROM public.item_cooccurrence c
JOIN public.items i ON i.id = c.item_id
JOIN public.items j ON j.id = c.neighbor_id;

GRANT SELECT ON rec.item_cooccurrence_v TO pgrec_analyst;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA rec TO pgrec_analyst;
"""

# 0004's rec.for_user, restored by the downgrade.
OLD_FOR_USER = r"""
CREATE OR REPLACE FUNCTION rec.for_user(user_id text, k integer, filters jsonb DEFAULT '{}')
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

DROP = """
DROP VIEW rec.item_cooccurrence_v;
DROP FUNCTION rec.for_user_centroid(text, integer, jsonb);
DROP FUNCTION rec.for_user_explained(text, integer, jsonb, bigint[], bigint[]);
DROP FUNCTION rec._in_category(bigint, jsonb);
DROP FUNCTION rec._titles(bigint[]);
DROP FUNCTION rec.ranker();
DROP FUNCTION rec.user_candidates(text, jsonb, integer, bigint[], bigint[]);
DROP FUNCTION rec._feature_sources();
DROP FUNCTION rec.ranker_features();
DROP FUNCTION rec.user_interests(text, integer, bigint[], bigint[]);
DROP FUNCTION rec.user_history(text, bigint[], bigint[]);
DROP FUNCTION rec.cooccurring(bigint, integer, jsonb);
DROP FUNCTION rec.popular(integer, jsonb);
"""


def upgrade() -> None:
    _tables()
    # The analyst role (0004) reads every table; default privileges cover new tables, but
    # say it here too so a database migrated before the role existed is covered.
    op.execute(
        "GRANT SELECT ON item_cooccurrence, item_stats, ranking_models, job_state TO pgrec_analyst"
    )
    op.execute(COLLAB)


def downgrade() -> None:
    op.execute(OLD_FOR_USER)
    op.execute(DROP)
    op.drop_index("ix_items_created_at", table_name="items")
    op.drop_table("job_state")
    op.drop_table("ranking_models")
    op.drop_table("item_stats")
    op.drop_table("item_cooccurrence")
