-- Match on the registry id delivery recorded; fall back to the registry's natural
-- key (learner_id, credential_type, credential_version = '<issue_date>.v<version>', as
-- include/sql/delivery/issue_sources.sql sends it) for credentials whose
-- acknowledgement was lost.
INSERT INTO recon_registry_match
SELECT c.credential_id, c.employee_id, c.credential_type, c.status, c.created_at,
       si.state, sr.state,
       coalesce(r1.registry_id, r2.registry_id),
       coalesce(r1.status, r2.status)
FROM core.credentials c
LEFT JOIN core.registry_submissions si
       ON si.credential_id = c.credential_id AND si.version = c.version AND si.operation = 'issue'
LEFT JOIN core.registry_submissions sr
       ON sr.credential_id = c.credential_id AND sr.version = c.version AND sr.operation = 'revoke'
LEFT JOIN staging.registry_snapshot r1
       ON r1.snapshot_id = %(registry_snapshot)s AND r1.registry_id = si.registry_id
LEFT JOIN staging.registry_snapshot r2
       ON r1.registry_id IS NULL
      AND r2.snapshot_id = %(registry_snapshot)s
      AND r2.learner_id = c.employee_id
      AND r2.credential_type = c.credential_type
      AND r2.credential_version = c.issue_date::text || '.v' || c.version
WHERE c.tenant_id = %(tenant_id)s;
