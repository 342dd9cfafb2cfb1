-- Workers whose termination (not followed by a rehire) is before the cut-off day. A worker already
-- erased or pseudonymised carries a replacement key (psn_…, erased_…) and is not selected again.
-- Params: tenant_id, cutoff (a date).
SELECT employee_id
FROM core.workers
WHERE tenant_id = %(tenant_id)s
  AND employment_status = 'terminated'
  AND termination_date IS NOT NULL
  AND termination_date < %(cutoff)s
  AND (rehire_date IS NULL OR rehire_date <= termination_date)
  AND employee_id NOT LIKE 'psn\_%%'
  AND employee_id NOT LIKE 'erased\_%%'
ORDER BY employee_id
