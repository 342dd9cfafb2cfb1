-- One row per tenant and retention run; a rerun of the same run id that changed nothing keeps the
-- counts of the attempt that did. Params: run_id, tenant_id, as_of, counts (json), total.
INSERT INTO audit.retention_runs (run_id, tenant_id, as_of, counts, total)
VALUES (%(run_id)s, %(tenant_id)s, %(as_of)s, %(counts)s::jsonb, %(total)s)
ON CONFLICT (tenant_id, run_id) DO UPDATE
SET counts = EXCLUDED.counts, total = EXCLUDED.total, started_at = now()
WHERE EXCLUDED.total > 0
