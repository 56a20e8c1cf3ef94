-- The one WHERE clause (over items aliased i) that every mode applies. Values become
-- literals through format('%L'); keys are matched against a fixed list, never interpolated.
-- 0021: kinds match regardless of case (lower(i.kind), served by ix_items_kind_lower):
-- a catalog stores "movie" or "Movie" as its source had it, and a caller asking for
-- kind=Movie got nothing from the first.
CREATE OR REPLACE FUNCTION rec.filter_sql(filters jsonb DEFAULT '{}') RETURNS text
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
        ELSE format('lower(i.kind) = ANY (%L::text[])',
                    ARRAY(SELECT lower(x) FROM unnest(arr) x)) END;
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
