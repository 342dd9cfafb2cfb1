-- completions <-> credentials: an active credential with no successful,
-- non-voided completion of a course that earns its type (e.g. its statement
-- was voided after issue).
INSERT INTO recon_observed
SELECT 'completions_credentials', 'credential_without_evidence', k.credential_id::text,
       k.employee_id || ':' || k.credential_type, k.employee_id, k.credential_id,
       'completions', NULL, 'credentials', k.credential_type || ' active since ' || k.issue_date
FROM core.credentials k
WHERE k.tenant_id = %(tenant_id)s
  AND k.status = 'active'
  AND NOT EXISTS (
      SELECT 1
      FROM core.completions c
      JOIN staging.credential_rules_snapshot r
        ON r.snapshot_id = %(rules_snapshot)s AND r.course_code = c.course_code
      WHERE c.tenant_id = k.tenant_id AND c.employee_id = k.employee_id
        AND r.credential_type = k.credential_type
        AND c.success AND NOT c.voided
        AND (r.min_score IS NULL OR c.score >= r.min_score));
