-- One 'issue' submission per active credential version not yet submitted.
-- The idempotency key must equal credsync.delivery.payload.idempotency_key().
INSERT INTO core.registry_submissions (tenant_id, credential_id, version, operation, idempotency_key)
SELECT c.tenant_id, c.credential_id, c.version, 'issue',
       'cs-' || c.credential_id || '-v' || c.version || '-issue'
FROM core.credentials c
WHERE c.tenant_id = %(tenant_id)s
  AND c.status = 'active'
ON CONFLICT DO NOTHING
