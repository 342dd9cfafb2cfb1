-- The tenant's not-yet-merged batch of this source, stream and window, if any (a rejected or
-- failed attempt to retry). Params: tenant_id, source, stream, window_key.
SELECT batch_id::text
FROM audit.batches
WHERE tenant_id = %(tenant_id)s AND source = %(source)s AND stream = %(stream)s
  AND window_key = %(window_key)s AND status <> 'merged'
ORDER BY created_at DESC
LIMIT 1
