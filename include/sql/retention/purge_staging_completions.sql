-- Delete the raw completion rows of one source (lms_rest | xapi) from batches created before the cut-off.
-- Params: tenant_id, cutoff, staging_source.
DELETE FROM staging.completions s
USING audit.batches b
WHERE s.batch_id = b.batch_id
  AND s.tenant_id = %(tenant_id)s AND b.tenant_id = %(tenant_id)s
  AND s.source = %(staging_source)s
  AND b.created_at < %(cutoff)s
