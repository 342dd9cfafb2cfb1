-- Every credential with the certificate the registry lists under the registry id
-- delivery recorded. Credentials whose acknowledgement was lost get their match
-- from include/sql/recon/prepare_registry_fallback.sql, run next.
INSERT INTO recon_registry_match
SELECT c.credential_id, c.employee_id, c.credential_type, c.status, c.created_at,
       si.state, sr.state, r.registry_id, r.status,
       c.issue_date::text || '.v' || c.version
FROM core.credentials c
LEFT JOIN core.registry_submissions si
       ON si.credential_id = c.credential_id AND si.version = c.version AND si.operation = 'issue'
LEFT JOIN core.registry_submissions sr
       ON sr.credential_id = c.credential_id AND sr.version = c.version AND sr.operation = 'revoke'
LEFT JOIN staging.registry_snapshot r
       ON r.snapshot_id = %(registry_snapshot)s AND r.registry_id = si.registry_id
WHERE c.tenant_id = %(tenant_id)s;
