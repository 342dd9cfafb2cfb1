-- The work list of one push run: every unfinished submission, issues before revokes.
SELECT idempotency_key, operation
FROM core.registry_submissions
WHERE tenant_id = %(tenant_id)s
  AND state IN ('pending', 'sent')
  AND operation = ANY(%(operations)s)
ORDER BY operation = 'revoke', created_at, idempotency_key
