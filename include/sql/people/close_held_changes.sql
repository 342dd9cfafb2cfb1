-- Held changes whose worker is no longer held (the date came, or HR changed the record): applied.
-- Params: tenant_id, still_held (employee_ids held this run), today.
UPDATE core.held_changes
SET applied_at = now()
WHERE tenant_id = %(tenant_id)s AND applied_at IS NULL
  AND NOT (employee_id = ANY(%(still_held)s::text[]))
RETURNING employee_id, change, effective_date
