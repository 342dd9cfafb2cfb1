-- Dashboards: open dead letters by tenant, source and reason (replay: dlq_replay).
SELECT tenant_id, source, reason, count(*) AS letters, min(created_at) AS oldest, max(updated_at) AS latest
FROM audit.dead_letters
WHERE status = 'open' AND (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s)
GROUP BY tenant_id, source, reason
ORDER BY count(*) DESC, tenant_id, source, reason
