-- Acknowledge many submissions at once; already-acknowledged rows are left alone.
UPDATE core.registry_submissions s
SET state = 'acknowledged', registry_id = v.registry_id, last_status = v.status,
    last_error = NULL, acknowledged_at = now()
FROM unnest(%(keys)s::text[], %(registry_ids)s::text[], %(statuses)s::int[])
     AS v(idempotency_key, registry_id, status)
WHERE s.tenant_id = %(tenant_id)s
  AND s.idempotency_key = v.idempotency_key
  AND s.state <> 'acknowledged'
RETURNING s.idempotency_key, s.credential_id, s.operation, s.registry_id, s.last_status
