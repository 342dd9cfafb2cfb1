-- Held changes no longer held (the date came, or HR changed the record): applied.
-- Only among the workers this run looked at (a run for some employee ids leaves the others' alone).
-- Params: tenant_id, looked_at (employee_ids of the run), still_held ('<employee_id>:<change>' held this run).
UPDATE core.held_changes
SET applied_at = now()
WHERE tenant_id = %(tenant_id)s AND applied_at IS NULL
  AND employee_id = ANY(%(looked_at)s::text[])
  AND NOT (employee_id || ':' || change = ANY(%(still_held)s::text[]))
RETURNING employee_id, change, effective_date
