-- Final failures; the dead letter carries the registry's answer for a human.
UPDATE core.registry_submissions s
SET state = 'dead', last_status = v.status, last_error = v.error
FROM unnest(%(keys)s::text[], %(statuses)s::int[], %(errors)s::text[]) AS v(idempotency_key, status, error)
WHERE s.tenant_id = %(tenant_id)s
  AND s.idempotency_key = v.idempotency_key
  AND s.state IN ('pending', 'sent', 'dead')
