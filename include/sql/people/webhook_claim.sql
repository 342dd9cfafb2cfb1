-- Record a verified HRIS webhook event; returns a row only when the event is new.
-- A concurrent delivery of the same event waits on this row until the first commits.
INSERT INTO audit.hris_webhook_events (tenant_id, event_id, type, employee_id, occurred_at, body)
VALUES (%(tenant_id)s, %(event_id)s, %(type)s, %(employee_id)s, %(occurred_at)s, %(body)s)
ON CONFLICT (tenant_id, event_id) DO NOTHING
RETURNING event_id
