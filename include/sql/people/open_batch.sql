-- The tenant's not-yet-merged HRIS batch of this extract window, if any (a rejected attempt
-- to retry). Params: tenant_id, window_key.
SELECT batch_id::text
FROM audit.batches
WHERE tenant_id = %(tenant_id)s AND source = 'hris' AND stream = 'workers'
  AND window_key = %(window_key)s AND status <> 'merged'
ORDER BY created_at DESC
LIMIT 1
