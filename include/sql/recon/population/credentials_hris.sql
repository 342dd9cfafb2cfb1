-- Entities compared: active credentials plus (worker, type) pairs only the HRIS shows.
SELECT (SELECT count(*) FROM core.credentials k WHERE k.tenant_id = %(tenant_id)s AND k.status = 'active')
     + (SELECT count(DISTINCT o.subject) FROM recon_observed o
        WHERE o.finding_type IN ('pay_flag_without_credential', 'terminated_still_certified'))
