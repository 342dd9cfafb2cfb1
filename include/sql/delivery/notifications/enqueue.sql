-- One notification per submission the registry acknowledged (issue or revoke), once:
-- the event id is derived from the submission's idempotency key, so enqueueing again adds nothing.
INSERT INTO core.registry_notifications (tenant_id, event_id, idempotency_key, credential_id, event_type,
                                         registry_id, occurred_at)
SELECT s.tenant_id, s.idempotency_key || '-notify', s.idempotency_key, s.credential_id,
       CASE s.operation WHEN 'issue' THEN 'credential.issued' ELSE 'credential.revoked' END,
       s.registry_id, coalesce(s.acknowledged_at, now())
FROM core.registry_submissions s
WHERE s.tenant_id = %(tenant_id)s
  AND s.state = 'acknowledged'
  AND s.registry_id IS NOT NULL
ON CONFLICT DO NOTHING
