-- Credentials past their expiry date become 'expired' (never deleted). A credential is
-- valid through its expiry date, so it expires on the day after.
UPDATE core.credentials
SET status = 'expired', status_reason = 'expired on ' || expiry_date::text, status_changed_at = now()
WHERE tenant_id = %(tenant_id)s
  AND status = 'active'
  AND expiry_date < %(as_of)s
RETURNING credential_id::text, employee_id, credential_type, expiry_date
