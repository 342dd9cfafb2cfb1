-- Committed before the request leaves: a task killed after sending finds 'sent' and sends the
-- same event again, which the registry answers as a duplicate.
UPDATE core.registry_notifications
SET state = 'sent', attempts = attempts + 1, sent_at = now()
WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s AND state IN ('pending', 'sent')
