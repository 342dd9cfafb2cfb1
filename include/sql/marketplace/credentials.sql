-- The active credentials of one tenant: badges and certificate references.
-- Params: %(tenant_id)s.
SELECT credential_id, coalesce(award_id, credential_id) AS award_id, employee_id, credential_type, rule_id,
       issuer, issue_date, expiry_date, created_at
FROM core.credentials
WHERE tenant_id = %(tenant_id)s AND status = 'active'
ORDER BY employee_id, created_at, credential_id
