-- Lifting a hold by hand (either source). Revoked credentials are refused before this runs.
UPDATE core.credentials
SET suspended_at = NULL, suspension_reason = NULL, suspension_source = NULL
WHERE tenant_id = %(tenant_id)s
  AND credential_id = ANY(%(ids)s::uuid[])
  AND suspended_at IS NOT NULL
  AND status <> 'revoked'
RETURNING credential_id::text, employee_id, credential_type
