-- The national LRS (NELC) ledger per tenant: learners with a national id, statements sent (acknowledged
-- or awaiting the answer), acknowledged, refused (dead: a checklist rule or the LRS refused them, never
-- stored there), still pending, and recorded by this run. Params: %(since)s.
SELECT t.tenant_id,
       (SELECT count(*) FROM core.workers w
         WHERE w.tenant_id = t.tenant_id AND w.national_id IS NOT NULL)                              AS national_ids,
       count(s.statement_id) FILTER (WHERE s.state IN ('sent', 'acknowledged'))                        AS sent,
       count(s.statement_id) FILTER (WHERE s.state = 'acknowledged')                                   AS acknowledged,
       count(s.statement_id) FILTER (WHERE s.state = 'dead')                                           AS refused,
       count(s.statement_id) FILTER (WHERE s.state = 'pending')                                        AS pending,
       count(s.statement_id) FILTER (WHERE s.created_at >= %(since)s)                                  AS recorded_this_run
FROM (SELECT DISTINCT tenant_id FROM core.workers) t
LEFT JOIN core.national_lrs_statements s ON s.tenant_id = t.tenant_id
GROUP BY t.tenant_id
ORDER BY t.tenant_id;
