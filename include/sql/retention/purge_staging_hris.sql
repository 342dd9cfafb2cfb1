-- Delete the raw HRIS rows of batches created before the cut-off (the staging layer); the batch row stays.
-- Params: tenant_id, cutoff (staging_source unused: one HRIS staging table).
DELETE FROM staging.hris_workers s
USING audit.batches b
WHERE s.batch_id = b.batch_id
  AND s.tenant_id = %(tenant_id)s AND b.tenant_id = %(tenant_id)s
  AND b.created_at < %(cutoff)s
