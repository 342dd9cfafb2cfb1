-- credentials <-> registry: both sides hold the certificate but disagree on
-- status. Ours expired/revoked but registry active (and no revoke in flight) is
-- registry_not_revoked (safe to re-queue the revoke); ours active but registry
-- revoked is registry_status_mismatch (a human decides).
INSERT INTO recon_observed
SELECT 'credentials_registry',
       CASE WHEN m.status = 'active' THEN 'registry_status_mismatch' ELSE 'registry_not_revoked' END,
       m.credential_id::text, m.credential_id::text, m.employee_id, m.credential_id,
       'credentials', m.status, 'registry', m.registry_status || ' (' || m.registry_id || ')'
FROM recon_registry_match m
WHERE m.registry_id IS NOT NULL
  AND (m.status = 'active') <> (m.registry_status = 'active')
  AND (m.status = 'active'
       OR (m.revoke_state IS DISTINCT FROM 'pending' AND m.revoke_state IS DISTINCT FROM 'sent'));
