-- A transient failure outlasted this run's retries: keep 'sent' (the next run sends again).
UPDATE core.registry_notifications
SET last_status = %(status)s, last_error = %(error)s
WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s AND state = 'sent'
