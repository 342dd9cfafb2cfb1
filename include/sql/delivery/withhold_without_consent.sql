-- Issues never sent whose worker has no consent (now) for the push's purpose: withheld before the push.
-- 'pending' is never-sent (mark_sent moves a submission to 'sent' before its request goes out).
DELETE FROM core.registry_submissions s
USING core.credentials c
WHERE s.credential_id = c.credential_id
  AND s.tenant_id = %(tenant_id)s
  AND s.operation = 'issue'
  AND s.state = 'pending'
  AND NOT EXISTS (
        SELECT 1 FROM core.consent_current k
        WHERE k.tenant_id = c.tenant_id AND k.employee_id = c.employee_id
          AND k.purpose = %(purpose)s::text AND k.action = 'grant')
RETURNING s.idempotency_key, c.employee_id
