UPDATE audit.lms_completion_events SET wakeup_error = %(error)s, updated_at = now()
WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s
