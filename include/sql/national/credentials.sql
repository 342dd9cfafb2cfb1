-- Active credentials of one tenant's learners with a national id (each one learner's own award).
-- Params: %(tenant_id)s.
SELECT cr.credential_id, coalesce(cr.award_id, cr.credential_id) AS award_id, cr.employee_id,
       cr.credential_type, cr.rule_id, cr.issue_date, cr.created_at
FROM core.credentials cr
JOIN core.workers w ON w.tenant_id = cr.tenant_id AND w.employee_id = cr.employee_id
WHERE cr.tenant_id = %(tenant_id)s AND cr.status = 'active' AND w.national_id IS NOT NULL
ORDER BY cr.employee_id, cr.created_at, cr.credential_id
