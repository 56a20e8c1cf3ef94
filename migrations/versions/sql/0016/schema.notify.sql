-- NOTIFY: workers LISTEN on pgrec_items (items to embed), API processes on pgrec_vectors
-- (the active model's vectors changed) and pgrec_changes (which items the read model
-- reads again). Payloads are JSON and carry ids only, never data.

CREATE SEQUENCE pgrec_vectors_version;

-- Statement-level and payload-free on purpose: PostgreSQL folds identical notifications of
-- one transaction into one, so a bulk load wakes each worker once, not once per row.
CREATE FUNCTION pgrec_notify_items() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pgrec_items', '');
  RETURN NULL;
END $$;

-- Tell API processes that the active model's vectors changed: once per model and
-- transaction (a transaction-local setting remembers what was sent), delivered at commit,
-- carrying a fresh value of a global counter that a process can also read at start-up.
CREATE FUNCTION pgrec_announce_vectors(changed_model text, reason text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  sent text := coalesce(current_setting('pgrec.vectors_announced', true), '');
  tag text := '|' || changed_model || '|';
BEGIN
  IF position(tag IN sent) > 0 THEN
    RETURN;
  END IF;
  PERFORM set_config('pgrec.vectors_announced', sent || tag, true);
  PERFORM pg_notify('pgrec_vectors', json_build_object(
    'model', changed_model,
    'version', nextval('pgrec_vectors_version'),
    'reason', reason)::text);
END $$;

CREATE FUNCTION pgrec_notify_vectors() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  m text;
BEGIN
  -- Only the active model is served; filling a new model side by side stays quiet.
  IF TG_OP = 'DELETE' THEN
    FOR m IN SELECT DISTINCT o.model FROM old_rows o
             JOIN embedding_models em ON em.name = o.model AND em.active LOOP
      PERFORM pgrec_announce_vectors(m, 'vectors');
    END LOOP;
  ELSE
    FOR m IN SELECT DISTINCT n.model FROM new_rows n
             JOIN embedding_models em ON em.name = n.model AND em.active LOOP
      PERFORM pgrec_announce_vectors(m, 'vectors');
    END LOOP;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION pgrec_notify_model_switch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgrec_announce_vectors(NEW.name, 'activated');
  RETURN NULL;
END $$;

CREATE TRIGGER items_notify_insert AFTER INSERT ON items
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_items();
CREATE TRIGGER items_notify_update AFTER UPDATE OF title, categories, tags, description
  ON items FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_items();

CREATE TRIGGER item_embeddings_notify_insert AFTER INSERT ON item_embeddings
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vectors();
CREATE TRIGGER item_embeddings_notify_update AFTER UPDATE ON item_embeddings
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vectors();
CREATE TRIGGER item_embeddings_notify_delete AFTER DELETE ON item_embeddings
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vectors();

CREATE TRIGGER embedding_models_notify_switch AFTER UPDATE OF active ON embedding_models
  FOR EACH ROW WHEN (NEW.active AND NOT OLD.active)
  EXECUTE FUNCTION pgrec_notify_model_switch();

-- Statement-level with transition tables: one notification per 500 ids (a payload must stay
-- under 8000 bytes), delivered at commit, so a bulk load costs a handful of notifications.
CREATE FUNCTION pgrec_send_changes(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  n integer := coalesce(cardinality(ids), 0);
  i integer := 1;
BEGIN
  WHILE i <= n LOOP
    PERFORM pg_notify('pgrec_changes', json_build_object('ids', ids[i : i + 499])::text);
    i := i + 500;
  END LOOP;
END $$;

CREATE FUNCTION pgrec_notify_item_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pgrec_send_changes((SELECT array_agg(DISTINCT o.id ORDER BY o.id) FROM old_rows o));
  ELSE
    PERFORM pgrec_send_changes((SELECT array_agg(DISTINCT n.id ORDER BY n.id) FROM new_rows n));
  END IF;
  RETURN NULL;
END $$;

-- Only the active model is served: vectors of another model stay quiet.
CREATE FUNCTION pgrec_notify_vector_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pgrec_send_changes((
      SELECT array_agg(DISTINCT o.item_id ORDER BY o.item_id) FROM old_rows o
      JOIN embedding_models m ON m.name = o.model AND m.active));
  ELSE
    PERFORM pgrec_send_changes((
      SELECT array_agg(DISTINCT n.item_id ORDER BY n.item_id) FROM new_rows n
      JOIN embedding_models m ON m.name = n.model AND m.active));
  END IF;
  RETURN NULL;
END $$;

-- New neighbour lists or another active model: the read model is rebuilt.
CREATE FUNCTION pgrec_notify_full_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pgrec_changes', json_build_object('full', TG_TABLE_NAME)::text);
  RETURN NULL;
END $$;

CREATE TRIGGER items_changes_insert AFTER INSERT ON items
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_item_changes();
CREATE TRIGGER items_changes_update AFTER UPDATE ON items
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_item_changes();
CREATE TRIGGER items_changes_delete AFTER DELETE ON items
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_item_changes();
CREATE TRIGGER item_embeddings_changes_insert AFTER INSERT ON item_embeddings
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vector_changes();
CREATE TRIGGER item_embeddings_changes_update AFTER UPDATE ON item_embeddings
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vector_changes();
CREATE TRIGGER item_embeddings_changes_delete AFTER DELETE ON item_embeddings
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION pgrec_notify_vector_changes();
CREATE TRIGGER refresh_state_changes AFTER INSERT OR UPDATE ON refresh_state
  FOR EACH ROW WHEN (NEW.job = 'neighbors')
  EXECUTE FUNCTION pgrec_notify_full_change();
CREATE TRIGGER embedding_models_changes AFTER UPDATE OF active ON embedding_models
  FOR EACH ROW WHEN (NEW.active AND NOT OLD.active)
  EXECUTE FUNCTION pgrec_notify_full_change();
