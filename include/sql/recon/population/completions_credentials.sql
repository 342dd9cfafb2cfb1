-- Entities compared: (worker, credential type) pairs holding a credential, plus those owed one.
SELECT (SELECT count(*) FROM (SELECT DISTINCT k.employee_id, k.credential_type FROM core.credentials k
                              WHERE k.tenant_id = %(tenant_id)s) d)
     + (SELECT count(*) FROM recon_observed o WHERE o.finding_type = 'credential_not_issued')
