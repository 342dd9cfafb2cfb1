-- HRIS <-> LMS: email, department or manager differ between the worker and its
-- (single) LMS account. Manager matches either the manager's employee id or the
-- manager's SCIM id, as SCIM enterprise `manager.value` may carry either.
INSERT INTO recon_observed
SELECT 'hris_lms', 'learner_attribute_drift', w.employee_id || ':' || a.attribute, w.employee_id,
       w.employee_id, NULL, 'hris', a.hris_value, 'lms', a.lms_value
FROM core.workers w
JOIN recon_lms_users u ON u.employee_id = w.employee_id
LEFT JOIN core.learners m ON m.tenant_id = w.tenant_id AND m.employee_id = w.manager_id
CROSS JOIN LATERAL (VALUES
    ('email', lower(w.work_email), u.email_normalized,
     lower(w.work_email) IS NOT DISTINCT FROM u.email_normalized),
    ('department', w.department, u.department,
     coalesce(w.department, '') = coalesce(u.department, '')),
    ('manager', w.manager_id, u.manager_value,
     coalesce(w.manager_id, '') = coalesce(u.manager_value, '') OR m.scim_id = u.manager_value)
) AS a(attribute, hris_value, lms_value, same)
WHERE w.tenant_id = %(tenant_id)s
  AND w.employment_status = ANY(%(lms_statuses)s)
  AND NOT a.same
  AND NOT u.duplicate;
