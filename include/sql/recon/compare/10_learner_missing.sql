-- HRIS <-> LMS: a worker who should have an LMS account (status in the
-- configured LMS statuses) has none in the LMS listing.
INSERT INTO recon_observed
SELECT 'hris_lms', 'learner_missing', w.employee_id, w.employee_id, w.employee_id, NULL,
       'hris', w.employment_status, 'lms', NULL
FROM core.workers w
WHERE w.tenant_id = %(tenant_id)s
  AND w.employment_status = ANY(%(lms_statuses)s)
  AND NOT EXISTS (SELECT 1 FROM recon_lms_users u WHERE u.employee_id = w.employee_id);
