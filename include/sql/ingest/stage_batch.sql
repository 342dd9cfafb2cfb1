-- One audit.batches row per staged window (HRIS extract, LMS/xAPI pull). A window whose batch is
-- not merged yet (a rejected or failed attempt) is staged again as the same batch: its quarantine
-- stays idempotent per (batch, record, rule) and its parked records stay parked.
-- Params: batch_id, tenant_id, source, stream, mapping_version, dag_run_id, window_key. Returns
-- the attempt number; no row when the batch is already merged (or is another tenant's, source's
-- or stream's): the caller refuses.
INSERT INTO audit.batches AS b (batch_id, tenant_id, source, stream, status, mapping_version, dag_run_id,
                                window_key)
VALUES (%(batch_id)s, %(tenant_id)s, %(source)s, %(stream)s, 'staged', %(mapping_version)s, %(dag_run_id)s,
        %(window_key)s)
ON CONFLICT (batch_id) DO UPDATE
SET status = 'staged', mapping_version = EXCLUDED.mapping_version, dag_run_id = EXCLUDED.dag_run_id,
    attempts = b.attempts + 1, records_in = 0, records_loaded = 0, records_quarantined = 0,
    records_dead = 0, schema_drift = NULL, finished_at = NULL
WHERE b.status <> 'merged' AND b.tenant_id = EXCLUDED.tenant_id
  AND b.source = EXCLUDED.source AND b.stream = EXCLUDED.stream
RETURNING b.attempts
