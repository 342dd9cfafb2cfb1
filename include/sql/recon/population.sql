-- Entities compared per comparison (the denominator of the drift rate): the
-- left side plus what only the right side holds.
SELECT 'hris_lms' AS comparison,
       (SELECT count(*) FROM core.workers w WHERE w.tenant_id = %(tenant_id)s)
     + (SELECT count(*) FROM recon_observed o
        WHERE o.finding_type = 'learner_orphaned') AS population
UNION ALL
SELECT 'completions_credentials',
       (SELECT count(*) FROM (SELECT DISTINCT k.employee_id, k.credential_type FROM core.credentials k
                              WHERE k.tenant_id = %(tenant_id)s) d)
     + (SELECT count(*) FROM recon_observed o WHERE o.finding_type = 'credential_not_issued')
UNION ALL
SELECT 'credentials_registry',
       (SELECT count(*) FROM recon_registry_match)
     + (SELECT count(*) FROM recon_observed o WHERE o.finding_type = 'registry_unknown')
UNION ALL
SELECT 'credentials_hris',
       (SELECT count(*) FROM core.credentials k WHERE k.tenant_id = %(tenant_id)s AND k.status = 'active')
     + (SELECT count(DISTINCT o.subject) FROM recon_observed o
        WHERE o.finding_type IN ('pay_flag_without_credential', 'terminated_still_certified'));
