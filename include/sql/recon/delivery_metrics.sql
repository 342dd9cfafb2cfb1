-- Delivery success and completion-to-delivery latency over the metrics window
-- (window_start, as_of]. Completion time is the credential's evidence
-- `completed_at` when present, else the start of its issue date.
WITH reg AS (
    SELECT s.state, s.acknowledged_at,
           coalesce(s.acknowledged_at, s.sent_at, s.created_at) AS settled_at,
           coalesce((k.evidence ->> 'completed_at')::timestamptz, k.issue_date::timestamptz) AS completed_at
    FROM core.registry_submissions s
    JOIN core.credentials k ON k.credential_id = s.credential_id
    WHERE s.tenant_id = %(tenant_id)s AND s.operation = 'issue'
      AND s.state IN ('acknowledged', 'dead')
), reg_w AS (
    SELECT * FROM reg WHERE settled_at > %(window_start)s AND settled_at <= %(as_of)s
), wb AS (
    SELECT b.state, b.target, b.delivered_at,
           coalesce(b.delivered_at, b.updated_at) AS settled_at,
           coalesce((k.evidence ->> 'completed_at')::timestamptz, k.issue_date::timestamptz) AS completed_at
    FROM core.writebacks b
    LEFT JOIN core.credentials k ON k.credential_id = b.credential_id
    WHERE b.tenant_id = %(tenant_id)s AND b.state IN ('delivered', 'dead')
), wb_w AS (
    SELECT * FROM wb WHERE settled_at > %(window_start)s AND settled_at <= %(as_of)s
)
SELECT
    (SELECT round(count(*) FILTER (WHERE state = 'acknowledged')::numeric / nullif(count(*), 0), 6)
       FROM reg_w) AS registry_success_rate,
    (SELECT round(count(*) FILTER (WHERE state = 'delivered')::numeric / nullif(count(*), 0), 6)
       FROM wb_w) AS writeback_success_rate,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - completed_at))
       FROM reg_w WHERE state = 'acknowledged') AS registry_latency_p50_s,
    (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - completed_at))
       FROM reg_w WHERE state = 'acknowledged') AS registry_latency_p95_s,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - completed_at))
       FROM wb_w WHERE state = 'delivered' AND target = 'hris_profile' AND completed_at IS NOT NULL)
       AS writeback_latency_p50_s,
    (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - completed_at))
       FROM wb_w WHERE state = 'delivered' AND target = 'hris_profile' AND completed_at IS NOT NULL)
       AS writeback_latency_p95_s;
