-- Completions of one source completed before the cut-off whose worker is not yet a pseudonym.
-- Params: tenant_id, completions_source, cutoff.
SELECT source_id, employee_id
FROM core.completions
WHERE tenant_id = %(tenant_id)s
  AND source = %(completions_source)s
  AND completed_at < %(cutoff)s
  AND employee_id NOT LIKE 'psn\_%%'
ORDER BY source_id
