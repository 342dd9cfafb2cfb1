-- credentials <-> HRIS/payroll: an active payroll flag for a (not terminated)
-- worker with no active pay-impacting credential of that type.
INSERT INTO recon_observed
SELECT 'credentials_hris', 'pay_flag_without_credential',
       'payroll_flag:' || h.employee_id || ':' || h.credential_type,
       h.employee_id || ':' || h.credential_type, h.employee_id, NULL,
       'credentials', NULL, 'payroll_flag', 'flag active'
FROM staging.hris_writeback_snapshot h
LEFT JOIN core.workers w ON w.tenant_id = h.tenant_id AND w.employee_id = h.employee_id
WHERE h.snapshot_id = %(hris_snapshot)s
  AND h.target = 'payroll_flag' AND h.active
  AND w.employment_status IS DISTINCT FROM 'terminated'
  AND NOT EXISTS (SELECT 1 FROM core.credentials k
                  WHERE k.tenant_id = h.tenant_id AND k.employee_id = h.employee_id
                    AND k.credential_type = h.credential_type
                    AND k.status = 'active' AND k.pay_impact);
