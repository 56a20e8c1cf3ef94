-- The hybrid user mode as (item_id, score): what GET /users/{id}/recommendations serves.
CREATE OR REPLACE FUNCTION rec.for_user(user_id text, k integer, filters jsonb DEFAULT '{}')
RETURNS TABLE(item_id bigint, score real)
LANGUAGE sql STABLE SET search_path = public AS $$
  SELECT e.item_id, e.score FROM rec.for_user_explained(user_id, k, filters) e
$$;
