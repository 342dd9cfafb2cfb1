SELECT body, status FROM audit.lms_completion_events WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s
