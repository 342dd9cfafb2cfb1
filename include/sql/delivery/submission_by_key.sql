SELECT operation, state FROM core.registry_submissions
WHERE tenant_id = %(tenant_id)s AND idempotency_key = %(key)s
