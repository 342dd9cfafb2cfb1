-- Manual suspension of active credentials not already on hold (a rerun changes nothing). A hold
-- from HRIS leave becomes a manual one: the worker's return no longer lifts it.
UPDATE core.credentials
SET suspended_at = coalesce(suspended_at, now()), suspension_reason = %(reason)s, suspension_source = 'manual'
WHERE tenant_id = %(tenant_id)s
  AND credential_id = ANY(%(ids)s::uuid[])
  AND status = 'active'
  AND suspension_source IS DISTINCT FROM 'manual'
RETURNING credential_id::text, employee_id, credential_type
