-- What provisioning holds each held worker at today (core.worker_effective), for Group Push; the
-- rows of the other workers this run looked at go (nothing of theirs is held any more).
-- Params: tenant_id, looked_at, and parallel arrays employee_ids, statuses, departments,
-- job_titles, manager_ids, locations, versions (source_updated_at).
WITH held AS (
    SELECT * FROM unnest(%(employee_ids)s::text[], %(statuses)s::text[], %(departments)s::text[],
                         %(job_titles)s::text[], %(manager_ids)s::text[], %(locations)s::text[],
                         %(versions)s::timestamptz[])
        AS t(employee_id, employment_status, department, job_title, manager_id, location, source_updated_at)
), gone AS (
    DELETE FROM core.worker_effective e
    WHERE e.tenant_id = %(tenant_id)s AND e.employee_id = ANY(%(looked_at)s::text[])
      AND e.employee_id NOT IN (SELECT employee_id FROM held)
    RETURNING 1
)
INSERT INTO core.worker_effective AS e (tenant_id, employee_id, employment_status, department, job_title,
                                        manager_id, location, source_updated_at)
SELECT %(tenant_id)s, employee_id, employment_status, department, job_title, manager_id, location,
       source_updated_at
FROM held
ON CONFLICT (tenant_id, employee_id) DO UPDATE
    SET employment_status = EXCLUDED.employment_status, department = EXCLUDED.department,
        job_title = EXCLUDED.job_title, manager_id = EXCLUDED.manager_id, location = EXCLUDED.location,
        source_updated_at = EXCLUDED.source_updated_at, computed_at = now()
    WHERE (e.employment_status, e.department, e.job_title, e.manager_id, e.location, e.source_updated_at)
          IS DISTINCT FROM (EXCLUDED.employment_status, EXCLUDED.department, EXCLUDED.job_title,
                            EXCLUDED.manager_id, EXCLUDED.location, EXCLUDED.source_updated_at)
