-- Open a finding for each new observation; a finding already open keeps its row
-- and moves last_seen. Severity and owner come from include/recon.yaml (recon_policy).
INSERT INTO recon.findings AS f
    (tenant_id, comparison, finding_type, severity, entity_key, employee_id, credential_id,
     left_system, left_value, right_system, right_value, first_seen, last_seen,
     first_run_id, last_run_id, action, owner)
SELECT DISTINCT ON (o.finding_type, o.entity_key)
       %(tenant_id)s, o.comparison, o.finding_type, p.severity, o.entity_key, o.employee_id, o.credential_id,
       o.left_system, o.left_value, o.right_system, o.right_value, %(seen_at)s, %(seen_at)s,
       %(run_id)s, %(run_id)s, 'flagged', p.owner
FROM recon_observed o
JOIN recon_policy p ON p.finding_type = o.finding_type
ORDER BY o.finding_type, o.entity_key
ON CONFLICT (tenant_id, finding_type, entity_key) WHERE resolved_at IS NULL DO UPDATE
    SET last_seen = EXCLUDED.last_seen,
        last_run_id = EXCLUDED.last_run_id,
        left_value = EXCLUDED.left_value,
        right_value = EXCLUDED.right_value,
        severity = EXCLUDED.severity,
        times_seen = f.times_seen + CASE WHEN f.last_run_id = EXCLUDED.last_run_id THEN 0 ELSE 1 END;
