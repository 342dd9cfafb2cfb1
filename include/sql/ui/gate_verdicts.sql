-- Dashboards: the latest GX gate verdicts of loads (audit.batches) and reconciliation runs
-- (recon.runs), newest first. `failed` names the failed rules (meta.rule, else the type).
(SELECT b.tenant_id, b.source || ' ' || b.stream AS gate, b.created_at AS at,
        CASE WHEN b.status = 'rejected' THEN 'blocked' ELSE 'passed' END AS verdict,
        b.records_in, b.records_quarantined,
        (SELECT string_agg(DISTINCT coalesce(r -> 'expectation_config' -> 'meta' ->> 'rule',
                                             r -> 'expectation_config' ->> 'type'), ', ')
           FROM jsonb_array_elements(CASE WHEN jsonb_typeof(b.validation -> 'results') = 'array'
                                          THEN b.validation -> 'results' ELSE '[]'::jsonb END) AS r
          WHERE (r ->> 'success')::boolean IS FALSE) AS failed,
        b.data_docs_url
   FROM audit.batches b
  WHERE b.status IN ('validated', 'merged', 'rejected')
    AND (%(tenant_id)s::text IS NULL OR b.tenant_id = %(tenant_id)s)
  ORDER BY b.created_at DESC
  LIMIT %(limit)s)
UNION ALL
(SELECT r.tenant_id, 'reconciliation', r.as_of, CASE WHEN r.gate_success THEN 'passed' ELSE 'blocked' END,
        NULL, NULL, CASE WHEN r.gate_success THEN NULL ELSE r.gate_summary END, NULL
   FROM recon.runs r
  WHERE r.gate_success IS NOT NULL AND (%(tenant_id)s::text IS NULL OR r.tenant_id = %(tenant_id)s)
  ORDER BY r.as_of DESC
  LIMIT %(limit)s)
ORDER BY at DESC
LIMIT %(limit)s
