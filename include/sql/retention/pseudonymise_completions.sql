-- The named completions of one source keep their row with the worker replaced by a pseudonym
-- (the core layer, anchor completion, action pseudonymise).
-- Params: tenant_id, completions_source, source_ids (text[]), originals (text[]), pseudonyms (text[], parallel).
UPDATE core.completions c
SET employee_id = m.pseudonym
FROM unnest(%(originals)s::text[], %(pseudonyms)s::text[]) AS m(original, pseudonym)
WHERE c.tenant_id = %(tenant_id)s
  AND c.source = %(completions_source)s
  AND c.source_id = ANY(%(source_ids)s)
  AND c.employee_id = m.original
