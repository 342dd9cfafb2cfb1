-- Revocations to send: the registry id comes from the acknowledged issue of the same credential.
SELECT r.idempotency_key,
       r.credential_id,
       r.version,
       r.attempts,
       i.state        AS issue_state,
       i.registry_id,
       CASE WHEN c.status = 'active' THEN 'consent withdrawn'
            ELSE coalesce(c.status_reason, 'credential ' || c.status) END AS reason
FROM core.registry_submissions r
JOIN core.credentials c ON c.credential_id = r.credential_id
LEFT JOIN core.registry_submissions i
  ON i.credential_id = r.credential_id AND i.version = r.version AND i.operation = 'issue'
WHERE r.tenant_id = %(tenant_id)s
  AND r.operation = 'revoke'
  AND r.idempotency_key = ANY(%(keys)s)
  AND r.state = ANY(%(states)s::text[])
ORDER BY r.idempotency_key
