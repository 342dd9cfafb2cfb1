-- The learners whose completions run %(run_id)s loaded: what its delivery steps are limited to.
SELECT DISTINCT employee_id FROM audit.lms_completion_events
WHERE tenant_id = %(tenant_id)s AND claimed_by = %(run_id)s AND outcome = 'loaded'
ORDER BY employee_id
