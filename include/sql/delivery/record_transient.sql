-- A transient failure outlasted this run's retries: keep 'sent' (the next run re-sends).
UPDATE core.registry_submissions
SET last_status = %(status)s, last_error = %(error)s
WHERE tenant_id = %(tenant_id)s
  AND idempotency_key = ANY(%(keys)s)
  AND state = 'sent'
