-- What the registry holds for a tenant in agreement with core.
SELECT s.registry_id, k.employee_id, k.credential_type, k.issue_date::text || '.v' || k.version,
       CASE WHEN k.status = 'active' THEN 'active' ELSE 'revoked' END,
       k.issue_date, k.expiry_date, s.acknowledged_at
FROM core.registry_submissions s JOIN core.credentials k USING (credential_id)
WHERE s.tenant_id = %(tenant_id)s AND s.operation = 'issue' AND s.state = 'acknowledged'
