-- Step 3: what to do for each remaining candidate, with the rule's display columns
-- and, for the rows that are issued or withheld, the evidence items.
CREATE TEMP TABLE credential_plan ON COMMIT DROP AS
WITH situated AS (
    SELECT c.rule_id, c.employee_id, c.met_at, c.evidence_key, c.requirement_met,
           c.item_refs,
           r.course_codes, r.credential_type, r.achievement_name, r.min_score, r.validity_days,
           r.renewal_window_days, r.requires_credential, r.pay_impact, r.issuer, r.rule_version,
           (c.met_at AT TIME ZONE 'UTC')::date AS issue_date,
           (c.oldest_at AT TIME ZONE 'UTC')::date + r.validity_days AS natural_expiry,
           w.employment_status,
           active.credential_id AS active_id,
           active.expiry_date AS active_expiry,
           latest.credential_id AS previous_id,
           coalesce(latest.version, 0) + 1 AS next_version
    FROM plan_candidates AS c
    JOIN credential_rules_eval AS r USING (rule_id)
    LEFT JOIN core.workers AS w
      ON w.tenant_id = %(tenant_id)s AND w.employee_id = c.employee_id
    LEFT JOIN core.credentials AS active
      ON active.tenant_id = %(tenant_id)s AND active.employee_id = c.employee_id
     AND active.credential_type = c.credential_type AND active.status = 'active'
    LEFT JOIN LATERAL (
        SELECT x.credential_id, x.version
        FROM core.credentials AS x
        WHERE x.tenant_id = %(tenant_id)s AND x.employee_id = c.employee_id
          AND x.credential_type = c.credential_type
        ORDER BY x.version DESC, x.created_at DESC
        LIMIT 1
    ) AS latest ON true
),
expiring AS (
    SELECT s.*,
           CASE
               -- Renewal before expiry extends from the old expiry, so renewing early costs nothing.
               WHEN s.active_id IS NOT NULL AND s.issue_date <= s.active_expiry
                   THEN s.active_expiry + s.validity_days
               ELSE s.natural_expiry
           END AS expiry_date
    FROM situated AS s
),
decided AS (
    SELECT e.*,
           CASE
               WHEN e.employment_status IS NULL OR e.employment_status = 'terminated' THEN 'skipped_terminated'
               WHEN NOT e.requirement_met THEN 'skipped_requires_credential'
               WHEN e.expiry_date <= %(as_of)s::date THEN 'skipped_expired'
               WHEN e.active_id IS NULL THEN 'issued'
               WHEN e.issue_date >= e.active_expiry - e.renewal_window_days THEN 'renewed'
               ELSE 'none'  -- a retake well before the renewal window changes nothing
           END AS decision
    FROM expiring AS e
)
SELECT d.*,
       CASE WHEN d.decision <> 'none' THEN (
           SELECT jsonb_agg(jsonb_build_object(
                      'source', k.source, 'source_id', k.source_id, 'course_code', k.course_code,
                      'verb', k.verb, 'score', k.score, 'completed_at', k.completed_at
                  ) ORDER BY k.course_code)
           FROM unnest(d.item_refs) AS i(ref)
           JOIN core.completions AS k
             ON k.tenant_id = %(tenant_id)s AND k.source = split_part(i.ref, ':', 1)
            AND k.source_id = substr(i.ref, strpos(i.ref, ':') + 1)
       ) END AS items,
       gen_random_uuid() AS new_credential_id
FROM decided AS d
