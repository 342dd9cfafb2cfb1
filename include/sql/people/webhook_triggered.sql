-- The outcome of triggering the run for an event: triggered (with the run id) or trigger_failed.
UPDATE audit.hris_webhook_events
SET status = %(status)s, triggered_run = %(triggered_run)s, trigger_error = %(trigger_error)s, updated_at = now()
WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s
