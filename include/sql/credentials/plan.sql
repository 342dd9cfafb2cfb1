-- What each (worker, credential type) should get under the current rules, set-based.
-- For each rule and worker: the latest qualifying completion per required course
-- (not voided, successful, score >= min_score, completed before completed_before:
-- the end of the evaluation date for issuance, the grace cut-off for reconciliation);
-- a rule is met when every course of its set is covered. Per credential type the
-- most recently met rule wins among those whose required credential is held (then the
-- rest). The decision column then says what to do.
CREATE TEMP TABLE credential_plan ON COMMIT DROP AS
WITH qualifying AS (
    SELECT r.rule_id, k.employee_id, k.course_code, k.source, k.source_id, k.verb, k.score, k.completed_at,
           row_number() OVER (
               PARTITION BY r.rule_id, k.employee_id, k.course_code
               ORDER BY k.completed_at DESC, k.source, k.source_id DESC
           ) AS recency
    FROM credential_rules_eval AS r
    JOIN core.completions AS k
      ON k.tenant_id = %(tenant_id)s
     AND k.course_code = ANY (r.course_codes)
    WHERE NOT k.voided
      AND k.success
      AND (r.min_score IS NULL OR k.score >= r.min_score)
      AND k.completed_at < %(completed_before)s
),
met AS (
    SELECT q.rule_id, q.employee_id,
           count(*) AS courses_met,
           max(q.completed_at) AS met_at,
           min(q.completed_at) AS oldest_at,
           jsonb_agg(jsonb_build_object(
               'source', q.source, 'source_id', q.source_id, 'course_code', q.course_code,
               'verb', q.verb, 'score', q.score, 'completed_at', q.completed_at
           ) ORDER BY q.course_code) AS items,
           string_agg(q.source || ':' || q.source_id, ',' ORDER BY q.source, q.source_id) AS evidence_key
    FROM qualifying AS q
    WHERE q.recency = 1
    GROUP BY q.rule_id, q.employee_id
),
candidates AS (
    SELECT r.*, m.employee_id, m.met_at, m.items, m.evidence_key,
           (m.met_at AT TIME ZONE 'UTC')::date AS issue_date,
           (m.oldest_at AT TIME ZONE 'UTC')::date + r.validity_days AS natural_expiry,
           r.requires_credential IS NULL OR EXISTS (
               SELECT 1 FROM core.credentials AS held
               WHERE held.tenant_id = %(tenant_id)s AND held.employee_id = m.employee_id
                 AND held.credential_type = r.requires_credential
                 AND (held.status IN ('active', 'expired') OR held.status_reason = 'superseded')
           ) AS requirement_met
    FROM met AS m
    JOIN credential_rules_eval AS r USING (rule_id)
    WHERE m.courses_met = cardinality(r.course_codes)
),
ranked AS (
    SELECT c.*,
           -- A rule whose required credential is not held never hides a met rule of the same type
           -- that needs none (a licence and a later recertification first seen in one run).
           row_number() OVER (
               PARTITION BY c.employee_id, c.credential_type ORDER BY c.requirement_met DESC, c.met_at DESC, c.rule_id
           ) AS type_rank
    FROM candidates AS c
),
situated AS (
    SELECT c.*,
           w.employment_status,
           active.credential_id AS active_id,
           active.expiry_date AS active_expiry,
           latest.credential_id AS previous_id,
           coalesce(latest.version, 0) + 1 AS next_version,
           EXISTS (
               SELECT 1 FROM core.credentials AS x
               WHERE x.tenant_id = %(tenant_id)s AND x.employee_id = c.employee_id
                 AND x.credential_type = c.credential_type AND x.evidence_key = c.evidence_key
           ) AS evidence_used
    FROM ranked AS c
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
    WHERE c.type_rank = 1
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
)
SELECT e.*,
       CASE
           WHEN e.evidence_used THEN 'none'
           WHEN e.employment_status IS NULL OR e.employment_status = 'terminated' THEN 'skipped_terminated'
           WHEN NOT e.requirement_met THEN 'skipped_requires_credential'
           WHEN e.expiry_date <= %(as_of)s::date THEN 'skipped_expired'
           WHEN e.active_id IS NULL THEN 'issued'
           WHEN e.issue_date >= e.active_expiry - e.renewal_window_days THEN 'renewed'
           ELSE 'none'  -- a retake well before the renewal window changes nothing
       END AS decision,
       gen_random_uuid() AS new_credential_id
FROM expiring AS e
