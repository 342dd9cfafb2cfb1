-- The job each of these workers held before their latest job change (a transfer the LMS must not
-- see before its effective date): the 'old' side of the newest core.worker_changes row that changed
-- department, job_title, manager_id or location; a field that change left alone is the current one.
-- No such row (the worker arrived with the future job): no prior job known, nothing returned.
-- Params: tenant_id, employee_ids.
SELECT w.employee_id,
       CASE WHEN c.changed_fields ? 'department' THEN c.changed_fields -> 'department' ->> 'old'
            ELSE w.department END,
       CASE WHEN c.changed_fields ? 'job_title' THEN c.changed_fields -> 'job_title' ->> 'old'
            ELSE w.job_title END,
       CASE WHEN c.changed_fields ? 'manager_id' THEN c.changed_fields -> 'manager_id' ->> 'old'
            ELSE w.manager_id END,
       CASE WHEN c.changed_fields ? 'location' THEN c.changed_fields -> 'location' ->> 'old'
            ELSE w.location END
FROM core.workers w
CROSS JOIN LATERAL (
    SELECT changed_fields FROM core.worker_changes
    WHERE tenant_id = w.tenant_id AND employee_id = w.employee_id AND change_kind = 'update'
      AND changed_fields ?| ARRAY['department', 'job_title', 'manager_id', 'location']
    ORDER BY change_id DESC
    LIMIT 1
) c
WHERE w.tenant_id = %(tenant_id)s AND w.employee_id = ANY(%(employee_ids)s::text[])
