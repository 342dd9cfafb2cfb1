-- Rows rejected at normalisation go to audit.quarantine with their rule and reason.
-- Idempotent per (batch, record, rule): running it again for the batch adds nothing.
INSERT INTO audit.quarantine (batch_id, tenant_id, record_key, rule, reason, record)
SELECT s.batch_id, s.tenant_id, coalesce(s.source_id, s.source || '#' || s.row_number), s.quarantine_rule,
       s.quarantine_reason, s.raw
FROM staging.completions AS s
WHERE s.batch_id = %(batch_id)s AND s.quarantine_rule IS NOT NULL
ON CONFLICT (batch_id, record_key, rule) DO NOTHING
