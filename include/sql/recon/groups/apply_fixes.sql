-- The safe fix for group findings first seen in this run (fix requeue_group_push): mark the
-- group for a re-read, so scim_provisioning's push_groups lists its LMS members on its next run
-- and PATCHes the difference. Reconciliation itself never writes to the LMS.
-- Params: tenant_id, run_id, seen_at.
WITH todo AS (
    SELECT f.finding_id, split_part(f.entity_key, ':', 1) AS group_key
    FROM recon.findings f
    JOIN recon_policy p ON p.finding_type = f.finding_type
    WHERE f.tenant_id = %(tenant_id)s AND f.comparison = 'scim_groups'
      AND f.resolved_at IS NULL AND f.last_run_id = %(run_id)s AND f.times_seen = 1
      AND f.action = 'flagged' AND p.fix = 'requeue_group_push'
), marked AS (
    UPDATE core.scim_groups g
    SET resync_requested_at = coalesce(g.resync_requested_at, %(seen_at)s), updated_at = now()
    WHERE g.tenant_id = %(tenant_id)s AND g.managed AND g.group_key IN (SELECT group_key FROM todo)
    RETURNING g.group_key
)
UPDATE recon.findings f
SET action = CASE WHEN m.group_key IS NULL THEN 'queued_fix' ELSE 'auto_fixed' END,
    action_detail = CASE WHEN m.group_key IS NULL
        THEN 'group no longer managed: nothing to re-push'
        ELSE 'group marked for re-push: scim_provisioning push_groups converges it on its next run' END
FROM todo t
LEFT JOIN (SELECT DISTINCT group_key FROM marked) m ON m.group_key = t.group_key
WHERE f.finding_id = t.finding_id
RETURNING f.finding_type, f.action
