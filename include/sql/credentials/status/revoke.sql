-- Manual revocation (final: migration 0015's trigger refuses any later status change).
-- Already revoked credentials are left as they are, so a rerun changes nothing.
UPDATE core.credentials
SET status = 'revoked', status_reason = %(reason)s, status_changed_at = now()
WHERE tenant_id = %(tenant_id)s
  AND credential_id = ANY(%(ids)s::uuid[])
  AND status <> 'revoked'
RETURNING credential_id::text, employee_id, credential_type
