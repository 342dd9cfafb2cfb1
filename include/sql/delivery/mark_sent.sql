-- Committed before the request leaves: a task killed after sending finds 'sent' and re-sends
-- under the same idempotency key, which the registry answers with its stored reply.
UPDATE core.registry_submissions
SET state = 'sent', attempts = attempts + 1, sent_at = now()
WHERE tenant_id = %(tenant_id)s
  AND idempotency_key = ANY(%(keys)s)
  AND state IN ('pending', 'sent')
