-- Delivery success and completion-to-delivery latency over the metrics window
-- (window_start, as_of]. Completion time is when the credential's rule was met
-- (evidence `met_at`: its latest qualifying completion), else the evidence
-- `completed_at` of credentials loaded from elsewhere, else the start of its issue date.
-- Latency counts live completions only: a credential issued more than 30 days after its
-- completion came in as history (a tenant's first load, a full pull); its age is not a delivery
-- latency (it made the first demo report read "registry latency p95 17525.7 h"). Same rule as
-- include/sql/ui/delivery_daily.sql.
-- One pass per delivery kind: the rate and both percentiles (one sort) together.
WITH reg AS (
    SELECT s.state,
           date_part('epoch', s.acknowledged_at - coalesce(
               (k.evidence ->> 'met_at')::timestamptz, (k.evidence ->> 'completed_at')::timestamptz,
               k.issue_date::timestamptz)) AS latency_s,
           k.created_at - coalesce(
               (k.evidence ->> 'met_at')::timestamptz, (k.evidence ->> 'completed_at')::timestamptz,
               k.issue_date::timestamptz) <= interval '30 days' AS live
    FROM core.registry_submissions s
    JOIN core.credentials k ON k.credential_id = s.credential_id
    WHERE s.tenant_id = %(tenant_id)s AND s.operation = 'issue'
      AND s.state IN ('acknowledged', 'dead')
      AND coalesce(s.acknowledged_at, s.sent_at, s.created_at) > %(window_start)s
      AND coalesce(s.acknowledged_at, s.sent_at, s.created_at) <= %(as_of)s
), wb AS (
    SELECT b.state, b.target,
           date_part('epoch', b.delivered_at - coalesce(
               (k.evidence ->> 'met_at')::timestamptz, (k.evidence ->> 'completed_at')::timestamptz,
               k.issue_date::timestamptz)) AS latency_s,
           k.created_at - coalesce(
               (k.evidence ->> 'met_at')::timestamptz, (k.evidence ->> 'completed_at')::timestamptz,
               k.issue_date::timestamptz) <= interval '30 days' AS live
    FROM core.writebacks b
    -- Latency is reported for profile write-backs only; payroll flags need no credential here.
    LEFT JOIN core.credentials k ON k.credential_id = b.credential_id AND b.target = 'hris_profile'
    WHERE b.tenant_id = %(tenant_id)s AND b.state IN ('delivered', 'dead')
      AND coalesce(b.delivered_at, b.updated_at) > %(window_start)s
      AND coalesce(b.delivered_at, b.updated_at) <= %(as_of)s
), reg_m AS (
    SELECT round(count(*) FILTER (WHERE state = 'acknowledged')::numeric / nullif(count(*), 0), 6) AS success,
           percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY latency_s)
               FILTER (WHERE state = 'acknowledged' AND live) AS latency
    FROM reg
), wb_m AS (
    SELECT round(count(*) FILTER (WHERE state = 'delivered')::numeric / nullif(count(*), 0), 6) AS success,
           percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY latency_s)
               FILTER (WHERE state = 'delivered' AND target = 'hris_profile' AND latency_s IS NOT NULL AND live)
               AS latency
    FROM wb
)
SELECT reg_m.success AS registry_success_rate,
       wb_m.success AS writeback_success_rate,
       reg_m.latency[1] AS registry_latency_p50_s,
       reg_m.latency[2] AS registry_latency_p95_s,
       wb_m.latency[1] AS writeback_latency_p50_s,
       wb_m.latency[2] AS writeback_latency_p95_s
FROM reg_m, wb_m;
