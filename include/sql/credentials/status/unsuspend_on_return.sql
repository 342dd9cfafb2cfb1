-- The worker is back (HRIS employment_status 'active'): the leave holds are lifted. Manual holds
-- stay; a worker terminated while on leave keeps the hold (nothing to return to).
UPDATE core.credentials c
SET suspended_at = NULL, suspension_reason = NULL, suspension_source = NULL
FROM core.workers w
WHERE c.tenant_id = %(tenant_id)s
  AND w.tenant_id = c.tenant_id
  AND w.employee_id = c.employee_id
  AND w.employment_status = 'active'
  AND c.suspension_source = 'hris_leave'
  AND c.status <> 'revoked'
RETURNING c.credential_id::text, c.employee_id, c.credential_type
