-- A worker on leave (HRIS employment_status 'leave'): each active credential not on hold is
-- suspended until the worker returns.
UPDATE core.credentials c
SET suspended_at = now(), suspension_reason = 'worker on leave (HRIS)', suspension_source = 'hris_leave'
FROM core.workers w
WHERE c.tenant_id = %(tenant_id)s
  AND w.tenant_id = c.tenant_id
  AND w.employee_id = c.employee_id
  AND w.employment_status = 'leave'
  AND c.status = 'active'
  AND c.suspended_at IS NULL
RETURNING c.credential_id::text, c.employee_id, c.credential_type
