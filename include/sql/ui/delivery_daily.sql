-- Dashboards: per UTC day and channel, finished deliveries (success = acknowledged / delivered
-- out of those that finished, dead included) and completion -> delivery latency.
-- Latency is measured from the completion time (the credential's evidence `met_at`, else
-- `completed_at`, else the start of its issue date) and counts live completions only: a
-- credential issued more than 30 days after its completion came in as history (the first load
-- of a tenant, a full pull) and its age is not a delivery latency (counted as `history`).
-- Same rule as include/sql/recon/delivery_metrics.sql. The marketplace channel: its events'
-- success per day (recon.marketplace_daily gates it). %(tenant_id)s NULL = every tenant.
WITH cred AS (
    SELECT k.credential_id, k.created_at,
           coalesce((k.evidence ->> 'met_at')::timestamptz, (k.evidence ->> 'completed_at')::timestamptz,
                    k.issue_date::timestamptz) AS completed
    FROM core.credentials k
    WHERE %(tenant_id)s::text IS NULL OR k.tenant_id = %(tenant_id)s
), deliveries AS (
    SELECT 'registry' AS channel,
           coalesce(s.acknowledged_at, s.sent_at, s.created_at) AS finished_at,
           s.state = 'acknowledged' AS ok,
           CASE WHEN s.state = 'acknowledged' THEN s.acknowledged_at - c.completed END AS latency,
           c.created_at - c.completed <= interval '30 days' AS live
    FROM core.registry_submissions s
    JOIN cred c ON c.credential_id = s.credential_id
    WHERE s.operation = 'issue' AND s.state IN ('acknowledged', 'dead')
    UNION ALL
    SELECT 'HRIS write-back',
           coalesce(b.delivered_at, b.updated_at),
           b.state = 'delivered',
           CASE WHEN b.state = 'delivered' AND b.target = 'hris_profile' THEN b.delivered_at - c.completed END,
           c.created_at - c.completed <= interval '30 days'
    FROM core.writebacks b
    LEFT JOIN cred c ON c.credential_id = b.credential_id
    WHERE b.state IN ('delivered', 'dead') AND (%(tenant_id)s::text IS NULL OR b.tenant_id = %(tenant_id)s)
    UNION ALL
    -- Talent marketplace events (completions, badges): success only; their latency is not a
    -- credential's delivery latency, so none is counted here.
    SELECT 'marketplace',
           coalesce(e.acknowledged_at, e.sent_at, e.created_at),
           e.state = 'acknowledged',
           NULL::interval,
           NULL::boolean
    FROM core.marketplace_events e
    WHERE e.state IN ('acknowledged', 'dead') AND (%(tenant_id)s::text IS NULL OR e.tenant_id = %(tenant_id)s)
)
SELECT (finished_at AT TIME ZONE 'UTC')::date AS day, channel,
       count(*) AS finished,
       count(*) FILTER (WHERE ok) AS succeeded,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY date_part('epoch', latency))
           FILTER (WHERE latency IS NOT NULL AND live) AS latency_p50_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY date_part('epoch', latency))
           FILTER (WHERE latency IS NOT NULL AND live) AS latency_p95_s,
       count(*) FILTER (WHERE latency IS NOT NULL AND live) AS live,
       count(*) FILTER (WHERE latency IS NOT NULL AND NOT live) AS history
FROM deliveries
WHERE finished_at > now() - make_interval(days => %(days)s)
GROUP BY 1, 2
ORDER BY 1, 2
