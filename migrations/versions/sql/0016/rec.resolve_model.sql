-- (name, dim) of the given model, or of the active one when model is null.
CREATE OR REPLACE FUNCTION rec.resolve_model(model text DEFAULT NULL)
RETURNS TABLE(name text, dim integer) LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY SELECT m.name, m.dim FROM public.embedding_models m
    WHERE CASE WHEN resolve_model.model IS NULL THEN m.active
               ELSE m.name = resolve_model.model END;
  IF NOT FOUND THEN
    PERFORM rec._bad('model', to_jsonb(resolve_model.model), 'a registered embedding model');
  END IF;
END $$;
