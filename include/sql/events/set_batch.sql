UPDATE audit.lms_completion_events SET batch_id = %(batch_id)s, updated_at = now()
WHERE tenant_id = %(tenant_id)s AND claimed_by = %(run_id)s AND status = 'claimed'
