-- Claim a tenant's recorded completion events for run %(run_id)s, oldest first: those never
-- claimed, and those a run claimed more than %(stale_minutes)s minutes ago without finishing
-- (its worker died and the run was given up). SKIP LOCKED: two runs never claim the same event.
UPDATE audit.lms_completion_events AS e
SET status = 'claimed', claimed_by = %(run_id)s, claimed_at = now(), batch_id = NULL, updated_at = now()
FROM (
    SELECT tenant_id, event_id FROM audit.lms_completion_events
    WHERE tenant_id = %(tenant_id)s
      AND (status = 'received'
           OR (status = 'claimed' AND claimed_by <> %(run_id)s
               AND claimed_at < now() - make_interval(mins => %(stale_minutes)s)))
    ORDER BY received_at, event_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS open
WHERE e.tenant_id = open.tenant_id AND e.event_id = open.event_id
RETURNING e.event_id, e.body -> 'completion'
