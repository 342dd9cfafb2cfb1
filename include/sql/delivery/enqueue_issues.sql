-- One 'issue' submission per active credential version not yet submitted.
-- The idempotency key must equal credsync.delivery.payload.idempotency_key().
INSERT INTO core.registry_submissions (tenant_id, credential_id, version, operation, idempotency_key)
SELECT c.tenant_id, c.credential_id, c.version, 'issue',
       'cs-' || c.credential_id || '-v' || c.version || '-issue'
FROM core.credentials c
WHERE c.tenant_id = %(tenant_id)s
  AND c.status = 'active'
  -- A tenant whose push needs consent (credsync.governance.consent): only workers who gave it.
  AND (%(purpose)s::text IS NULL OR EXISTS (
        SELECT 1 FROM core.consent_current k
        WHERE k.tenant_id = c.tenant_id AND k.employee_id = c.employee_id
          AND k.purpose = %(purpose)s::text AND k.action = 'grant'))
ON CONFLICT DO NOTHING
