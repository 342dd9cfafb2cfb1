-- Record a verified registry event once; no row back means the event id was seen before.
INSERT INTO audit.registry_webhook_events (tenant_id, event_id, type, notification_event_id, occurred_at, body)
VALUES (%(tenant_id)s, %(event_id)s, %(type)s, %(notification_event_id)s, %(occurred_at)s, %(body)s)
ON CONFLICT (tenant_id, event_id) DO NOTHING
RETURNING event_id
