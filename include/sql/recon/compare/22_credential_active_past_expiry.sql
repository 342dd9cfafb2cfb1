-- completions <-> credentials: still active after its expiry date (the
-- expiry/recertification run did not process it).
INSERT INTO recon_observed
SELECT 'completions_credentials', 'credential_active_past_expiry', k.credential_id::text,
       k.employee_id || ':' || k.credential_type, k.employee_id, k.credential_id,
       'completions', 'expires ' || k.expiry_date, 'credentials', k.status
FROM core.credentials k
WHERE k.tenant_id = %(tenant_id)s
  AND k.status = 'active'
  AND k.expiry_date < %(as_of_date)s;
