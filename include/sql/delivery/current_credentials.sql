-- The credential that speaks for each (worker, credential type): the active one if any,
-- else the most recent. Its status is what the HRIS profile and payroll flag should show.
SELECT DISTINCT ON (c.employee_id, c.credential_type)
       c.employee_id,
       c.credential_type,
       c.credential_id::text AS credential_id,
       c.status,
       c.issue_date,
       c.expiry_date,
       c.status_changed_at,
       c.pay_impact
FROM core.credentials c
WHERE c.tenant_id = %(tenant_id)s
ORDER BY c.employee_id, c.credential_type, (c.status = 'active') DESC, c.issue_date DESC, c.version DESC,
         c.created_at DESC
