-- Workers of one tenant as provisioning sees them, managers before their reports (depth in the
-- manager chain) so a report's manager account usually exists when the report is created.
-- Params: tenant_id, employee_ids (text[] or NULL = all).
WITH RECURSIVE chain AS (
    SELECT w.employee_id, 0 AS depth
    FROM core.workers w
    WHERE w.tenant_id = %(tenant_id)s
      AND (w.manager_id IS NULL
           OR NOT EXISTS (SELECT 1 FROM core.workers m
                          WHERE m.tenant_id = w.tenant_id AND m.employee_id = w.manager_id))
    UNION ALL
    SELECT w.employee_id, c.depth + 1
    FROM core.workers w
    JOIN chain c ON w.manager_id = c.employee_id
    WHERE w.tenant_id = %(tenant_id)s AND c.depth < 50
), depth AS (
    SELECT employee_id, min(depth) AS depth FROM chain GROUP BY employee_id
)
SELECT w.employee_id, w.given_name, w.family_name, w.preferred_name, w.work_email, w.employment_status,
       w.department, w.job_title, w.manager_id, w.employment_type
FROM core.workers w
LEFT JOIN depth d USING (employee_id)
WHERE w.tenant_id = %(tenant_id)s
  AND (%(employee_ids)s::text[] IS NULL OR w.employee_id = ANY(%(employee_ids)s::text[]))
ORDER BY coalesce(d.depth, 999), w.employee_id
