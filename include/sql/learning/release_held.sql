-- Held completions whose worker has now appeared are released (kept for audit).
UPDATE core.held_completions AS h
SET released_at = now()
FROM resolved_candidates AS r
WHERE r.employee_id IS NOT NULL
  AND h.tenant_id = %(tenant_id)s AND h.source = r.source AND h.source_id = r.source_id
  AND h.released_at IS NULL
