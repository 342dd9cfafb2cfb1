-- credentials <-> HRIS/payroll: an active credential of a (not terminated)
-- worker that the HRIS profile does not show as active, or, for pay-impacting
-- credentials, whose payroll flag is not active; skipped while its write-back
-- is pending (in flight) or the credential is younger than the grace.
INSERT INTO recon_observed
SELECT 'credentials_hris', 'writeback_missing',
       t.target || ':' || k.employee_id || ':' || k.credential_type,
       k.employee_id || ':' || k.credential_type, k.employee_id, k.credential_id,
       'credentials', 'active until ' || coalesce(k.expiry_date::text, 'no expiry'),
       t.target, CASE WHEN h.employee_id IS NULL THEN 'absent'
                      WHEN t.target = 'payroll_flag' THEN 'flag ' || CASE WHEN h.active THEN 'active' ELSE 'inactive' END
                      ELSE 'certification ' || coalesce(h.status, 'null') END
FROM core.credentials k
JOIN core.workers w ON w.tenant_id = k.tenant_id AND w.employee_id = k.employee_id
CROSS JOIN LATERAL (VALUES ('hris_profile'), ('payroll_flag')) AS t(target)
LEFT JOIN staging.hris_writeback_snapshot h
       ON h.snapshot_id = %(hris_snapshot)s AND h.target = t.target
      AND h.employee_id = k.employee_id AND h.credential_type = k.credential_type
WHERE k.tenant_id = %(tenant_id)s
  AND k.status = 'active'
  AND w.employment_status <> 'terminated'
  AND (t.target = 'hris_profile' OR k.pay_impact)
  AND k.created_at < %(grace_cutoff)s
  -- only the (few) pending write-backs are looked at, not every write-back
  AND NOT EXISTS (SELECT 1 FROM core.writebacks b
                  WHERE b.tenant_id = k.tenant_id AND b.employee_id = k.employee_id
                    AND b.target = t.target AND b.credential_type = k.credential_type
                    AND b.state = 'pending')
  AND (h.employee_id IS NULL
       OR (t.target = 'hris_profile' AND h.status IS DISTINCT FROM 'active')
       OR (t.target = 'payroll_flag' AND h.active IS NOT TRUE));
