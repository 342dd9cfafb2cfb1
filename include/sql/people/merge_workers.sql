-- Merge one validated staged batch into core.workers, recording every changed field
-- in core.worker_changes. Idempotent: a row equal to core (or older than it) changes
-- nothing and records nothing, so re-merging a batch is a no-op.
-- Params: %(tenant_id)s, %(batch_id)s.
WITH incoming AS (
    SELECT s.*,
           jsonb_build_object(
               'source_system', s.source_system, 'given_name', s.given_name,
               'family_name', s.family_name, 'preferred_name', s.preferred_name,
               'work_email', s.work_email, 'email_normalized', s.email_normalized,
               'employment_status', s.employment_status, 'employment_type', s.employment_type,
               'hire_date', s.hire_date, 'termination_date', s.termination_date,
               'rehire_date', s.rehire_date, 'department', s.department,
               'status_effective_date', s.status_effective_date, 'job_effective_date', s.job_effective_date,
               'job_title', s.job_title, 'manager_id', s.manager_id, 'location', s.location,
               'national_id', s.national_id, 'given_name_ar', s.given_name_ar, 'family_name_ar', s.family_name_ar
           ) AS doc
    FROM staging.hris_workers s
    WHERE s.tenant_id = %(tenant_id)s AND s.batch_id = %(batch_id)s
), current AS (
    SELECT w.employee_id, w.source_updated_at,
           jsonb_build_object(
               'source_system', w.source_system, 'given_name', w.given_name,
               'family_name', w.family_name, 'preferred_name', w.preferred_name,
               'work_email', w.work_email, 'email_normalized', w.email_normalized,
               'employment_status', w.employment_status, 'employment_type', w.employment_type,
               'hire_date', w.hire_date, 'termination_date', w.termination_date,
               'rehire_date', w.rehire_date, 'department', w.department,
               'status_effective_date', w.status_effective_date, 'job_effective_date', w.job_effective_date,
               'job_title', w.job_title, 'manager_id', w.manager_id, 'location', w.location,
               'national_id', w.national_id, 'given_name_ar', w.given_name_ar, 'family_name_ar', w.family_name_ar
           ) AS doc
    FROM core.workers w
    WHERE w.tenant_id = %(tenant_id)s AND w.employee_id IN (SELECT employee_id FROM incoming)
), diffs AS (
    SELECT i.employee_id,
           CASE WHEN c.employee_id IS NULL THEN 'insert' ELSE 'update' END AS change_kind,
           (SELECT jsonb_object_agg(n.key, jsonb_build_object('old', c.doc -> n.key, 'new', n.value))
              FROM jsonb_each(i.doc) AS n
             WHERE (c.doc -> n.key) IS DISTINCT FROM n.value
               AND NOT (c.employee_id IS NULL AND n.value = 'null'::jsonb)) AS changed_fields
    FROM incoming i
    LEFT JOIN current c USING (employee_id)
    -- Last writer wins on the HRIS timestamp: a late-arriving older record never overwrites.
    WHERE c.employee_id IS NULL OR i.source_updated_at >= c.source_updated_at
), upserted AS (
    INSERT INTO core.workers AS w (
        tenant_id, employee_id, source_system, given_name, family_name, preferred_name,
        work_email, email_normalized, employment_status, employment_type, hire_date,
        termination_date, rehire_date, department, job_title, manager_id, location,
        status_effective_date, job_effective_date,
        source_updated_at, mapping_version, last_batch_id, national_id, given_name_ar, family_name_ar
    )
    SELECT i.tenant_id, i.employee_id, i.source_system, i.given_name, i.family_name, i.preferred_name,
           i.work_email, i.email_normalized, i.employment_status, i.employment_type, i.hire_date,
           i.termination_date, i.rehire_date, i.department, i.job_title, i.manager_id, i.location,
           i.status_effective_date, i.job_effective_date,
           i.source_updated_at, i.mapping_version, i.batch_id, i.national_id, i.given_name_ar, i.family_name_ar
    FROM incoming i
    JOIN diffs d USING (employee_id)
    WHERE d.changed_fields IS NOT NULL
    ON CONFLICT (tenant_id, employee_id) DO UPDATE SET
        source_system = EXCLUDED.source_system, given_name = EXCLUDED.given_name,
        family_name = EXCLUDED.family_name, preferred_name = EXCLUDED.preferred_name,
        work_email = EXCLUDED.work_email, email_normalized = EXCLUDED.email_normalized,
        employment_status = EXCLUDED.employment_status, employment_type = EXCLUDED.employment_type,
        hire_date = EXCLUDED.hire_date, termination_date = EXCLUDED.termination_date,
        rehire_date = EXCLUDED.rehire_date, department = EXCLUDED.department,
        status_effective_date = EXCLUDED.status_effective_date, job_effective_date = EXCLUDED.job_effective_date,
        job_title = EXCLUDED.job_title, manager_id = EXCLUDED.manager_id, location = EXCLUDED.location,
        source_updated_at = EXCLUDED.source_updated_at, mapping_version = EXCLUDED.mapping_version,
        last_batch_id = EXCLUDED.last_batch_id, national_id = EXCLUDED.national_id,
        given_name_ar = EXCLUDED.given_name_ar, family_name_ar = EXCLUDED.family_name_ar, updated_at = now()
    RETURNING w.employee_id
)
INSERT INTO core.worker_changes (tenant_id, employee_id, batch_id, change_kind, changed_fields)
SELECT %(tenant_id)s, d.employee_id, %(batch_id)s, d.change_kind, d.changed_fields
FROM diffs d
JOIN upserted u USING (employee_id)
RETURNING change_kind
