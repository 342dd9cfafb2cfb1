-- Entities compared (the drift rate's denominator): workers plus LMS accounts no worker has.
SELECT (SELECT count(*) FROM core.workers w WHERE w.tenant_id = %(tenant_id)s)
     + (SELECT count(*) FROM recon_observed o WHERE o.finding_type = 'learner_orphaned')
