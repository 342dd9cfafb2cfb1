-- HRIS <-> LMS: one worker, several LMS accounts.
INSERT INTO recon_observed
SELECT 'hris_lms', 'learner_duplicate', u.employee_id, u.employee_id, u.employee_id, NULL,
       'hris', '1 account', 'lms', count(*) || ' accounts: ' || string_agg(u.scim_id, ', ' ORDER BY u.scim_id)
FROM recon_lms_users u
WHERE u.employee_id IS NOT NULL
GROUP BY u.employee_id
HAVING count(*) > 1;
