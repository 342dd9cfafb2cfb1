-- Completions for people not (yet) in core.workers are held, not dropped; a held
-- one seen again counts another attempt. A batch row is held as its staged record. Returns how
-- many were held for the first time.
WITH held AS (
INSERT INTO core.held_completions (tenant_id, source, source_id, actor_key, reason, record)
SELECT %(tenant_id)s, r.source, r.source_id, r.actor_key,
       'no worker matches ' || split_part(r.actor_key, ':', 1) || ' actor',
       coalesce(r.record, (SELECT to_jsonb(s) FROM staging.completions AS s
                           WHERE s.batch_id = %(batch_id)s AND s.row_number = r.row_number))
FROM resolved_candidates AS r
WHERE r.employee_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM core.completions AS k
                  WHERE k.tenant_id = %(tenant_id)s AND k.source = r.source AND k.source_id = r.source_id)
ON CONFLICT (tenant_id, source, source_id) DO UPDATE
SET attempts = core.held_completions.attempts + 1
WHERE core.held_completions.released_at IS NULL
RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) FROM held
