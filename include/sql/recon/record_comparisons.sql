-- One row per comparison: population and distinct drifted subjects.
INSERT INTO recon.run_comparisons (run_id, tenant_id, comparison, population, drifted, drift_rate)
SELECT %(run_id)s, %(tenant_id)s, p.comparison, p.population, coalesce(d.drifted, 0),
       CASE WHEN p.population = 0 THEN 0
            ELSE round(coalesce(d.drifted, 0)::numeric / p.population, 6) END
FROM unnest(%(comparisons)s::text[], %(populations)s::bigint[]) AS p(comparison, population)
LEFT JOIN (SELECT comparison, count(DISTINCT subject) AS drifted FROM recon_observed GROUP BY comparison) d
       ON d.comparison = p.comparison
ON CONFLICT (run_id, comparison) DO UPDATE
    SET population = EXCLUDED.population, drifted = EXCLUDED.drifted, drift_rate = EXCLUDED.drift_rate;
