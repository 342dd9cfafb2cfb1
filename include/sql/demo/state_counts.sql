-- What the warehouse holds now, per tenant.
SELECT t.tenant_id,
       (SELECT count(*) FROM core.workers w WHERE w.tenant_id = t.tenant_id)                          AS workers,
       (SELECT count(*) FROM core.learners l WHERE l.tenant_id = t.tenant_id)                         AS learners,
       (SELECT count(*) FROM core.learners l WHERE l.tenant_id = t.tenant_id AND l.active)            AS learners_active,
       (SELECT count(*) FROM core.completions c WHERE c.tenant_id = t.tenant_id)                      AS completions,
       (SELECT count(*) FROM core.held_completions h
         WHERE h.tenant_id = t.tenant_id AND h.released_at IS NULL)                                   AS completions_held,
       (SELECT count(*) FROM core.credentials c WHERE c.tenant_id = t.tenant_id)                      AS credentials,
       (SELECT count(*) FROM core.credentials c WHERE c.tenant_id = t.tenant_id AND c.status = 'active') AS credentials_active,
       (SELECT count(*) FROM core.registry_submissions s
         WHERE s.tenant_id = t.tenant_id AND s.state = 'acknowledged')                                AS pushed_acknowledged,
       (SELECT count(*) FROM core.registry_submissions s
         WHERE s.tenant_id = t.tenant_id AND s.state IN ('pending', 'sent'))                          AS pushes_pending,
       (SELECT count(*) FROM core.writebacks b
         WHERE b.tenant_id = t.tenant_id AND b.state = 'delivered')                                   AS writebacks_delivered,
       (SELECT count(*) FROM audit.dead_letters d
         WHERE d.tenant_id = t.tenant_id AND d.status = 'open')                                       AS dead_letters_open,
       (SELECT count(*) FROM recon.findings f
         WHERE f.tenant_id = t.tenant_id AND f.resolved_at IS NULL)                                   AS findings_open
FROM (SELECT DISTINCT tenant_id FROM core.workers) t
ORDER BY t.tenant_id;
