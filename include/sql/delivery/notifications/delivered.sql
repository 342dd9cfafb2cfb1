-- The registry's receiver took the notification (new, or a duplicate of one it already holds).
UPDATE core.registry_notifications
SET state = 'acknowledged', last_status = %(status)s, last_error = NULL, delivered_at = now()
WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s AND state <> 'acknowledged'
