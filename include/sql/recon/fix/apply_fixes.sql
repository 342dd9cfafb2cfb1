-- Safe fixes for findings first seen in this run: hand them back to the owning
-- flow through the re-queue functions of migration 0005 (re-push, re-deactivate,
-- re-write-back). When there is nothing the function can re-queue, the finding
-- is recorded as queued_fix: the learner/write-back row does not exist yet (the
-- owning DAG creates it on its next run), or the registry submission is already
-- acknowledged/dead (the caller dead-letters it for replay; see docs/runbook.md).
WITH todo AS (
    SELECT f.finding_id, p.fix, f.credential_id, f.employee_id, f.entity_key
    FROM recon.findings f
    JOIN recon_policy p ON p.finding_type = f.finding_type
    WHERE f.tenant_id = %(tenant_id)s
      AND f.resolved_at IS NULL
      AND f.last_run_id = %(run_id)s
      AND f.times_seen = 1
      AND f.action = 'flagged'
      AND p.fix IS NOT NULL
), applied AS (
    SELECT t.finding_id, t.fix,
           CASE t.fix
               WHEN 'requeue_registry_issue' THEN 'registry issue queued with key '
                   || recon.requeue_registry_submission(%(tenant_id)s, t.credential_id, 'issue', %(reason)s)
               WHEN 'requeue_registry_revoke' THEN 'registry revoke queued with key '
                   || recon.requeue_registry_submission(%(tenant_id)s, t.credential_id, 'revoke', %(reason)s)
               WHEN 'requeue_learner' THEN CASE WHEN recon.requeue_learner(%(tenant_id)s, t.employee_id)
                   THEN 'learner marked for SCIM re-provisioning' END
               WHEN 'requeue_writeback' THEN CASE WHEN recon.requeue_writeback(
                       %(tenant_id)s, t.employee_id, split_part(t.entity_key, ':', 1),
                       regexp_replace(t.entity_key, '^[^:]*:[^:]*:', ''))
                   THEN 'write-back re-queued' END
           END AS detail
    FROM todo t
)
UPDATE recon.findings f
SET action = CASE WHEN a.detail IS NULL THEN 'queued_fix' ELSE 'auto_fixed' END,
    action_detail = coalesce(a.detail, CASE a.fix
        WHEN 'requeue_learner' THEN 'no learner row: SCIM provisioning creates the account on its next run'
        WHEN 'requeue_writeback' THEN 'no write-back row: the write-back DAG creates it on its next run'
        ELSE 'submission already settled (forward-only): dead-lettered for replay' END)
FROM applied a
WHERE f.finding_id = a.finding_id
RETURNING f.finding_type, f.action, a.fix, f.credential_id, f.entity_key;
