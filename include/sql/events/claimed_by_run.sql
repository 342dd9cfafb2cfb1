-- The events run %(run_id)s claimed and has not finished (a retried task takes the same ones again).
SELECT event_id, body -> 'completion' FROM audit.lms_completion_events
WHERE tenant_id = %(tenant_id)s AND claimed_by = %(run_id)s AND status = 'claimed'
ORDER BY received_at, event_id
