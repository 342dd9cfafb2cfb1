-- Count a re-delivery of an event already stored (same body).
UPDATE audit.hris_webhook_events
SET deliveries = deliveries + 1, updated_at = now()
WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s
