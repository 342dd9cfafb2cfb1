-- A voided completion stays in core (never deleted) but no longer counts as evidence.
UPDATE core.completions AS k
SET voided = true, voided_at = v.voided_at, voided_by = v.voided_by
FROM core.voided_statements AS v
WHERE v.tenant_id = %(tenant_id)s AND k.tenant_id = v.tenant_id
  AND k.source = v.source AND k.source_id = v.voided_source_id
  AND NOT k.voided
