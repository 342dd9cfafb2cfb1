-- credentials <-> HRIS/payroll: the HRIS still shows a terminated worker as
-- certified (profile) or flagged for pay (payroll).
INSERT INTO recon_observed
SELECT 'credentials_hris', 'terminated_still_certified',
       h.target || ':' || h.employee_id || ':' || h.credential_type,
       h.employee_id || ':' || h.credential_type, h.employee_id, NULL,
       'hris', 'terminated ' || coalesce(w.termination_date::text, ''),
       h.target, CASE WHEN h.target = 'payroll_flag' THEN 'flag active' ELSE 'certification ' || h.status END
FROM staging.hris_writeback_snapshot h
JOIN core.workers w ON w.tenant_id = h.tenant_id AND w.employee_id = h.employee_id
WHERE h.snapshot_id = %(hris_snapshot)s
  AND w.employment_status = 'terminated'
  AND ((h.target = 'hris_profile' AND h.status = 'active')
       OR (h.target = 'payroll_flag' AND h.active));
