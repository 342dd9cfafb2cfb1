-- The stored event under a (tenant, event_id) already seen, locked for this delivery.
SELECT body, status, triggered_run
FROM audit.hris_webhook_events
WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s
FOR UPDATE
