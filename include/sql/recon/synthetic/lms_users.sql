-- What the LMS holds for a tenant in agreement with core (one user per learner).
SELECT l.scim_id, l.employee_id, l.user_name, l.active, w.work_email, w.department, w.manager_id
FROM core.learners l JOIN core.workers w USING (tenant_id, employee_id)
WHERE l.tenant_id = %(tenant_id)s
