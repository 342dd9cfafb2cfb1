-- The gate refused the run's batch: its events are closed as refused (the hourly pull reads the
-- same completions from the LMS export and goes through the same gate after the fix).
UPDATE audit.lms_completion_events
SET status = 'refused', outcome = 'refused', refused_reason = %(reason)s, processed_at = now(), updated_at = now()
WHERE tenant_id = %(tenant_id)s AND claimed_by = %(run_id)s AND status = 'claimed'
