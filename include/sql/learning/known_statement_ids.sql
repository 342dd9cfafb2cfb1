-- Of the statement ids %(ids)s, the ones this tenant's warehouse has seen: merged, voiding,
-- held, or quarantined (by any batch). The statement-id reconciliation pulls the others.
SELECT k.source_id FROM core.completions AS k
WHERE k.tenant_id = %(tenant_id)s AND k.source = 'xapi' AND k.source_id = ANY(%(ids)s)
UNION
SELECT v.voided_by FROM core.voided_statements AS v
WHERE v.tenant_id = %(tenant_id)s AND v.source = 'xapi' AND v.voided_by = ANY(%(ids)s)
UNION
SELECT h.source_id FROM core.held_completions AS h
WHERE h.tenant_id = %(tenant_id)s AND h.source = 'xapi' AND h.source_id = ANY(%(ids)s)
UNION
SELECT q.record_key FROM audit.quarantine AS q
WHERE q.tenant_id = %(tenant_id)s AND q.record_key = ANY(%(ids)s)
