-- Effective dates of one tenant's workers (credsync.people.effective). Params: tenant_id.
SELECT employee_id, hire_date, termination_date, rehire_date
FROM core.workers
WHERE tenant_id = %(tenant_id)s
