-- Upsert the effective-dated changes provisioning holds today (credsync.people.effective).
-- Params: tenant_id, employee_ids, changes, effective_dates (parallel arrays).
INSERT INTO core.held_changes AS h (tenant_id, employee_id, change, effective_date)
SELECT %(tenant_id)s, e, c, d
FROM unnest(%(employee_ids)s::text[], %(changes)s::text[], %(effective_dates)s::date[]) AS t(e, c, d)
ON CONFLICT (tenant_id, employee_id, change, effective_date) DO UPDATE SET last_seen_at = now()
WHERE h.applied_at IS NULL
