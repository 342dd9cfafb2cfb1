-- One 'revoke' submission per expired/revoked credential the registry has (or is about to have),
-- and per credential whose worker withdrew the consent the push needs.
-- Credentials never submitted, or whose issue went dead, are not in the registry: nothing to revoke.
INSERT INTO core.registry_submissions (tenant_id, credential_id, version, operation, idempotency_key)
SELECT c.tenant_id, c.credential_id, s.version, 'revoke',
       'cs-' || c.credential_id || '-v' || s.version || '-revoke'
FROM core.credentials c
JOIN core.registry_submissions s
  ON s.credential_id = c.credential_id AND s.operation = 'issue' AND s.state <> 'dead'
WHERE c.tenant_id = %(tenant_id)s
  AND (c.status IN ('expired', 'revoked')
       -- consent withdrawn: the registry's copy goes, the credential stays valid
       OR (%(purpose)s::text IS NOT NULL AND NOT EXISTS (
             SELECT 1 FROM core.consent_current k
             WHERE k.tenant_id = c.tenant_id AND k.employee_id = c.employee_id
               AND k.purpose = %(purpose)s::text AND k.action = 'grant')))
ON CONFLICT DO NOTHING
