-- An auto-fix that has not cleared the finding after the configured number of sightings
-- goes to its human owner.
UPDATE recon.findings f
SET action = 'flagged',
    action_detail = coalesce(f.action_detail || '; ', '') || 'still open after ' || f.times_seen || ' runs'
WHERE f.tenant_id = %(tenant_id)s
  AND f.resolved_at IS NULL
  AND f.last_run_id = %(run_id)s
  AND f.action IN ('auto_fixed', 'queued_fix')
  AND f.times_seen >= %(escalate_after)s;
