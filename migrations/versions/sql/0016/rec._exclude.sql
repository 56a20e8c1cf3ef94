-- filters with more ids excluded (the inputs of more_like, a user's seen items).
-- At most 10,000 ids (22023 'invalid ids').
CREATE OR REPLACE FUNCTION rec._exclude(filters jsonb, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  f jsonb := coalesce(filters, '{}');
BEGIN
  PERFORM rec._check_size('ids', cardinality(ids), 10000);
  PERFORM rec.filter_sql(f);  -- validate first: the error must name the caller's value
  RETURN jsonb_set(f, '{exclude_ids}', to_jsonb(
    coalesce(rec._id_array('exclude_ids',
                           coalesce(nullif(f -> 'exclude_ids', 'null'), '[]')), '{}')
    || coalesce(ids, '{}')));
END $$;
