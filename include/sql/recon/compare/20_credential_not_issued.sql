-- completions <-> credentials: a successful, non-voided completion of a course
-- that earns a credential, completed before the grace cut-off, with no
-- credential of that type (in any status) issued on or after it.
INSERT INTO recon_observed
SELECT 'completions_credentials', 'credential_not_issued', e.employee_id || ':' || e.credential_type,
       e.employee_id || ':' || e.credential_type, e.employee_id, NULL,
       'completions', e.course_code || ' completed ' || to_char(e.completed_at, 'YYYY-MM-DD'),
       'credentials', NULL
FROM (
    SELECT DISTINCT ON (c.employee_id, r.credential_type)
           c.employee_id, r.credential_type, c.course_code, c.completed_at
    FROM core.completions c
    JOIN staging.credential_rules_snapshot r
      ON r.snapshot_id = %(rules_snapshot)s AND r.course_code = c.course_code
    WHERE c.tenant_id = %(tenant_id)s
      AND c.success AND NOT c.voided
      AND (r.min_score IS NULL OR c.score >= r.min_score)
      AND c.completed_at < %(grace_cutoff)s
    ORDER BY c.employee_id, r.credential_type, c.completed_at DESC
) e
WHERE NOT EXISTS (
    SELECT 1 FROM core.credentials k
    WHERE k.tenant_id = %(tenant_id)s AND k.employee_id = e.employee_id
      AND k.credential_type = e.credential_type
      AND k.issue_date >= (e.completed_at AT TIME ZONE 'UTC')::date
);
