-- Clear the quarantined copies of one source's batches created before the cut-off (the audit layer).
-- The row, its rule and reason stay, so a batch's counts still reconcile; a rerun finds nothing.
-- Params: tenant_id, batch_source, cutoff.
UPDATE audit.quarantine q
SET record = NULL
FROM audit.batches b
WHERE q.batch_id = b.batch_id
  AND q.tenant_id = %(tenant_id)s AND b.tenant_id = %(tenant_id)s
  AND b.source = %(batch_source)s
  AND b.created_at < %(cutoff)s
  AND q.record IS NOT NULL
