-- HRIS <-> LMS: an LMS account with no HRIS worker behind it.
INSERT INTO recon_observed
SELECT 'hris_lms', 'learner_orphaned', 'scim:' || u.scim_id, 'scim:' || u.scim_id, u.employee_id, NULL,
       'hris', NULL, 'lms', CASE WHEN u.active THEN 'active' ELSE 'inactive' END
FROM recon_lms_users u
WHERE u.employee_id IS NULL
   OR NOT EXISTS (SELECT 1 FROM core.workers w
                  WHERE w.tenant_id = %(tenant_id)s AND w.employee_id = u.employee_id);
