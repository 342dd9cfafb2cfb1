-- Delete the named completions of one source (the core layer, anchor completion, action purge).
-- Params: tenant_id, completions_source, source_ids (text[]).
DELETE FROM core.completions
WHERE tenant_id = %(tenant_id)s
  AND source = %(completions_source)s
  AND source_id = ANY(%(source_ids)s)
