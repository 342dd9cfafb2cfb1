-- The work list of one notification run: every unfinished notification, issues before revocations.
SELECT tenant_id, event_id, idempotency_key, credential_id, event_type, registry_id, occurred_at, attempts
FROM core.registry_notifications
WHERE tenant_id = %(tenant_id)s
  AND state IN ('pending', 'sent')
ORDER BY event_type = 'credential.revoked', occurred_at, event_id
