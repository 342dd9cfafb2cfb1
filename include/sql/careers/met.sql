-- Who meets which rule today, for one tenant: every required credential type held active (status
-- active, not past its expiry date: recertification may not have run yet), the worker active in the
-- HRIS, tenure and job family (department) as the rule asks. Set-based over core; one row per
-- (worker, rule) with the credentials that met it.
CREATE TEMP TABLE career_met ON COMMIT DROP AS
WITH rules AS (
    SELECT * FROM jsonb_to_recordset(%(rules)s::jsonb) AS r(
        rule_id text, rule_version integer, eligible_for text, credential_types text[],
        min_tenure_days integer, departments text[], approver text, hrbp_group text)
), held AS (
    SELECT c.employee_id, c.credential_type, c.credential_id
    FROM core.credentials c
    WHERE c.tenant_id = %(tenant_id)s AND c.status = 'active'
      AND (c.expiry_date IS NULL OR c.expiry_date > %(as_of)s::date)
)
SELECT r.rule_id, r.rule_version, r.eligible_for, w.employee_id,
       CASE WHEN r.approver = 'manager' AND w.manager_id IS NOT NULL THEN 'manager' ELSE 'hrbp' END AS approver_kind,
       CASE WHEN r.approver = 'manager' AND w.manager_id IS NOT NULL THEN w.manager_id ELSE r.hrbp_group END
           AS approver,
       array_agg(h.credential_id ORDER BY h.credential_type) AS credential_ids
FROM rules r
CROSS JOIN LATERAL unnest(r.credential_types) AS t(credential_type)
JOIN held h ON h.credential_type = t.credential_type
JOIN core.workers w ON w.tenant_id = %(tenant_id)s AND w.employee_id = h.employee_id
WHERE w.employment_status = 'active'
  AND (r.min_tenure_days IS NULL
       OR coalesce(w.rehire_date, w.hire_date) <= %(as_of)s::date - r.min_tenure_days)
  AND (r.departments IS NULL OR w.department = ANY (r.departments))
GROUP BY r.rule_id, r.rule_version, r.eligible_for, r.approver, r.hrbp_group, w.employee_id, w.manager_id,
         cardinality(r.credential_types)
HAVING count(DISTINCT h.credential_type) = cardinality(r.credential_types)
