-- Dashboards: drift per comparison per UTC day (the day's last reconciliation run of each
-- tenant; over several tenants, drifted entities / compared entities). NULL tenant = all.
-- The talent marketplace's own reconciliation is one more comparison, `marketplace` (the day's
-- last run: missing + mismatched + unexpected out of the records credsync sent).
WITH marketplace AS (
    SELECT DISTINCT ON (r.tenant_id, r.day) r.tenant_id, r.day,
           r.missing + r.mismatched + r.unexpected AS drifted, r.expected AS population
    FROM recon.marketplace_runs r
    ORDER BY r.tenant_id, r.day, r.run_at DESC, r.run_id DESC
), every_comparison AS (
    SELECT tenant_id, day, comparison, drifted, population FROM recon.v_drift_daily
    UNION ALL
    SELECT tenant_id, day, 'marketplace', drifted, population FROM marketplace
)
SELECT day, comparison, sum(drifted) AS drifted, sum(population) AS population
FROM every_comparison
WHERE (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s)
  AND day > current_date - %(days)s
GROUP BY day, comparison
ORDER BY day, comparison
