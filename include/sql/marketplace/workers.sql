-- The workers of one tenant the marketplace hears of (every worker: alumni go under a pseudonym).
-- Params: %(tenant_id)s.
SELECT employee_id, work_email, employment_type, employment_status
FROM core.workers
WHERE tenant_id = %(tenant_id)s
ORDER BY employee_id
