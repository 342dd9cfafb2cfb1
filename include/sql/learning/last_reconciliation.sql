-- Since when this tenant's statement ids count as reconciled: the last merged batch that ran the
-- reconciliation, else the first merged pull through the statement sync (its first pull reads
-- everything from the watermark it had). NULL: no merged sync pull yet. Second column: when the
-- last merged sync pull ran (statements stored before it are old news when re-read).
SELECT coalesce(max(p.pulled_at) FILTER (WHERE p.reconciled), min(p.pulled_at)), max(p.pulled_at)
FROM audit.lrs_pulls AS p
JOIN audit.batches AS b ON b.batch_id = p.batch_id AND b.status = 'merged'
WHERE p.tenant_id = %(tenant_id)s
