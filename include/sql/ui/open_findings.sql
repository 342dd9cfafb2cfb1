-- Dashboards: open reconciliation findings by tenant and type (drill-down: findings_detail.sql).
SELECT tenant_id, comparison, finding_type, max(severity) AS severity, action, owner, count(*) AS findings,
       min(first_seen) AS oldest
FROM recon.v_open_findings
WHERE %(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s
GROUP BY tenant_id, comparison, finding_type, action, owner
ORDER BY count(*) DESC, tenant_id, finding_type
