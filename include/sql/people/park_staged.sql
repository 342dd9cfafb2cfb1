-- Park staged records a gate expectation named (e.g. dates_sane): they move to quarantine as
-- rule 'parked', with the staged row and its HRIS version, so re-staging diverts them.
-- Params: batch_id, record_keys (text[]), parked_by, note. Returns the keys parked.
INSERT INTO audit.quarantine (batch_id, tenant_id, record_key, rule, reason, record,
                              parked_at, parked_by, park_note)
SELECT s.batch_id, s.tenant_id, s.employee_id, 'parked',
       'record ' || s.row_number || ' (' || s.employee_id || '): parked for review by ' || %(parked_by)s
           || coalesce(': ' || %(note)s, ''),
       jsonb_build_object('updated_at', s.source_updated_at, 'staged', to_jsonb(s)),
       now(), %(parked_by)s, %(note)s
FROM staging.hris_workers s
WHERE s.batch_id = %(batch_id)s AND s.employee_id = ANY(%(record_keys)s)
ON CONFLICT (batch_id, record_key, rule) DO NOTHING
RETURNING record_key
