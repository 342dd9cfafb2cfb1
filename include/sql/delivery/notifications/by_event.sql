-- One notification by its event id (dead-letter replay).
SELECT tenant_id, event_id, idempotency_key, credential_id, event_type, registry_id, occurred_at, attempts,
       state, review_state, review_reason
FROM core.registry_notifications
WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s
