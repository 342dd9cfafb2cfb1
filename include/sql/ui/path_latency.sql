-- Dashboards: p50/p95 per path (event: a completion event announced it; pull: the scheduled pull
-- found it) from the completion to each later moment of core.credential_latency, over the
-- credentials made in the last %(days)s days. Like delivery_daily.sql, a credential made more than
-- 30 days after its completion came in as history and is left out. %(tenant_id)s NULL = every tenant.
WITH live AS (
    SELECT * FROM core.credential_latency
    WHERE (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s)
      AND credential_at > now() - make_interval(days => %(days)s)
      AND completed_at IS NOT NULL AND credential_at - completed_at <= interval '30 days'
), stages AS (
    SELECT path, 'credential' AS stage, date_part('epoch', credential_at - completed_at) AS seconds FROM live
    UNION ALL
    SELECT path, 'registry ack', date_part('epoch', registry_ack_at - completed_at) FROM live
    WHERE registry_ack_at IS NOT NULL
    UNION ALL
    SELECT path, 'HRIS write-back', date_part('epoch', hris_writeback_at - completed_at) FROM live
    WHERE hris_writeback_at IS NOT NULL
)
SELECT path, stage,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS p50_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds) AS p95_s,
       count(*) AS credentials
FROM stages
GROUP BY path, stage
ORDER BY path, CASE stage WHEN 'credential' THEN 1 WHEN 'registry ack' THEN 2 ELSE 3 END
