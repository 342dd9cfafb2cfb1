-- The tenant's merged HRIS batch of this extract window, if any (a file drop already loaded).
-- Params: tenant_id, window_key.
SELECT batch_id::text
FROM audit.batches
WHERE tenant_id = %(tenant_id)s AND source = 'hris' AND stream = 'workers'
  AND window_key = %(window_key)s AND status = 'merged'
LIMIT 1
