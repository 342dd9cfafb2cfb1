-- completions <-> credentials: an active credential whose evidence (its
-- evidence_key: source:source_id items) is not all present as successful,
-- non-voided completions (e.g. a statement voided after issue), or that
-- records no evidence at all.
INSERT INTO recon_observed
SELECT 'completions_credentials', 'credential_without_evidence', k.credential_id::text,
       k.employee_id || ':' || k.credential_type, k.employee_id, k.credential_id,
       'completions', NULL, 'credentials', k.credential_type || ' active since ' || k.issue_date
FROM core.credentials k
WHERE k.tenant_id = %(tenant_id)s
  AND k.status = 'active'
  AND (k.evidence_key IS NULL OR EXISTS (
      SELECT 1
      FROM string_to_table(k.evidence_key, ',') AS item
      WHERE NOT EXISTS (
          SELECT 1 FROM core.completions c
          WHERE c.tenant_id = k.tenant_id AND c.employee_id = k.employee_id
            AND c.source = split_part(item, ':', 1)
            AND c.source_id = substr(item, length(split_part(item, ':', 1)) + 2)
            AND c.success AND NOT c.voided)));
