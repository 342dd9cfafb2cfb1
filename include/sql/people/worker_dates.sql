-- Effective dates of one tenant's workers (credsync.people.effective), with what provisioning
-- needs to hold a change: the location (not on the provisioning Worker) and the version of the
-- record (core.worker_effective is valid for that version only). Params: tenant_id.
SELECT employee_id, hire_date, termination_date, rehire_date, status_effective_date, job_effective_date,
       location, source_updated_at
FROM core.workers
WHERE tenant_id = %(tenant_id)s
