-- completions <-> credentials: an active credential whose evidence (its
-- evidence_key: source:source_id items) is not all present as successful,
-- non-voided completions (e.g. a statement voided after issue), or that
-- records no evidence at all. The items of all active credentials are checked
-- in one anti-join rather than a look-up per credential.
INSERT INTO recon_observed
SELECT 'completions_credentials', 'credential_without_evidence', k.credential_id::text,
       k.employee_id || ':' || k.credential_type, k.employee_id, k.credential_id,
       'completions', NULL, 'credentials', k.credential_type || ' active since ' || k.issue_date
FROM core.credentials k
WHERE k.tenant_id = %(tenant_id)s
  AND k.status = 'active'
  AND (k.evidence_key IS NULL OR k.credential_id IN (
      SELECT i.credential_id
      FROM (SELECT a.credential_id, a.employee_id, split_part(item, ':', 1) AS source,
                   substr(item, length(split_part(item, ':', 1)) + 2) AS source_id
            FROM core.credentials a, string_to_table(a.evidence_key, ',') AS item
            WHERE a.tenant_id = %(tenant_id)s AND a.status = 'active') AS i
      WHERE NOT EXISTS (
          SELECT 1 FROM core.completions c
          WHERE c.tenant_id = %(tenant_id)s AND c.employee_id = i.employee_id
            AND c.source = i.source AND c.source_id = i.source_id
            AND c.success AND NOT c.voided)));
