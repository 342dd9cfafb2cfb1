-- HRIS <-> LMS: the LMS account's active flag disagrees with the worker's
-- employment status (active in LMS only while status is a configured LMS status).
INSERT INTO recon_observed
SELECT 'hris_lms', 'learner_active_mismatch', w.employee_id, w.employee_id, w.employee_id, NULL,
       'hris', w.employment_status, 'lms', CASE WHEN u.active THEN 'active' ELSE 'inactive' END
FROM core.workers w
JOIN recon_lms_users u ON u.employee_id = w.employee_id
WHERE w.tenant_id = %(tenant_id)s
  AND u.active IS DISTINCT FROM (w.employment_status = ANY(%(lms_statuses)s))
  -- a worker with several accounts is reported once, as a duplicate
  AND NOT u.duplicate;
