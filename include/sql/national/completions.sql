-- The learning records of one tenant's learners with a national id, in journey order.
-- Params: %(tenant_id)s.
SELECT c.employee_id, w.national_id, w.given_name, w.family_name, w.given_name_ar, w.family_name_ar,
       c.course_code, c.source, c.source_id, c.success, c.score, c.completed_at
FROM core.completions c
JOIN core.workers w ON w.tenant_id = c.tenant_id AND w.employee_id = c.employee_id
WHERE c.tenant_id = %(tenant_id)s AND NOT c.voided AND w.national_id IS NOT NULL
ORDER BY c.employee_id, c.course_code, c.completed_at, c.source, c.source_id
