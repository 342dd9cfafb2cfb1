-- Voiding statements of this batch, remembered even if their target has not arrived.
INSERT INTO core.voided_statements (tenant_id, source, voided_source_id, voided_by, voided_at, batch_id,
                                    content_hash)
SELECT %(tenant_id)s, 'xapi', s.voids_source_id, s.source_id, coalesce(s.stored_at, s.completed_at), s.batch_id,
       core.statement_content_hash(s.raw, s.completed_at)
FROM staging.completions AS s
WHERE s.batch_id = %(batch_id)s AND s.quarantine_rule IS NULL AND s.verb = 'voided'
ON CONFLICT (tenant_id, source, voided_source_id) DO NOTHING
