-- A final refusal; the dead letter carries the registry's answer for a human.
UPDATE core.registry_notifications
SET state = 'dead', last_status = %(status)s, last_error = %(error)s
WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s AND state IN ('pending', 'sent', 'dead')
