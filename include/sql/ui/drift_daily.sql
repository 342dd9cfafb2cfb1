-- Dashboards: drift per comparison per UTC day (the day's last reconciliation run of each
-- tenant; over several tenants, drifted entities / compared entities). NULL tenant = all.
SELECT day, comparison, sum(drifted) AS drifted, sum(population) AS population
FROM recon.v_drift_daily
WHERE (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s)
  AND day > current_date - %(days)s
GROUP BY day, comparison
ORDER BY day, comparison
