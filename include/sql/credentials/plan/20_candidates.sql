-- Step 2: per (worker, credential type) the rule that counts: the most recently met
-- among those whose required credential is held, then the rest. A candidate whose
-- evidence already produced a credential of that type changes nothing (decision
-- 'none') and is dropped here, so step 3 only looks at the few that may.
CREATE TEMP TABLE plan_candidates ON COMMIT DROP AS
WITH held AS (
    -- Only the types some rule requires; usually none or a handful.
    SELECT DISTINCT x.employee_id, x.credential_type
    FROM core.credentials AS x
    WHERE x.tenant_id = %(tenant_id)s
      AND x.credential_type IN (SELECT requires_credential FROM credential_rules_eval)
      AND (x.status IN ('active', 'expired') OR x.status_reason = 'superseded')
),
typed AS (
    SELECT m.*, r.credential_type,
           r.requires_credential IS NULL OR h.employee_id IS NOT NULL AS requirement_met,
           r.credential_type IN (SELECT t.credential_type FROM credential_rules_eval AS t
                                 GROUP BY t.credential_type HAVING count(*) > 1) AS contested
    FROM plan_met AS m
    JOIN credential_rules_eval AS r USING (rule_id)
    LEFT JOIN held AS h ON h.employee_id = m.employee_id AND h.credential_type = r.requires_credential
),
ranked AS (
    -- A type earned by one rule only has nothing to rank.
    SELECT * FROM typed WHERE NOT contested
    UNION ALL
    -- A rule whose required credential is not held never hides a met rule of the same type
    -- that needs none (a licence and a later recertification first seen in one run).
    -- DISTINCT ON rather than a row_number() filter: the planner then expects one row per
    -- (worker, type) and hash-joins the evidence check below instead of probing per row.
    (SELECT DISTINCT ON (employee_id, credential_type) *
     FROM typed WHERE contested
     ORDER BY employee_id, credential_type, requirement_met DESC, met_at DESC, rule_id)
)
SELECT c.*
FROM ranked AS c
WHERE NOT EXISTS (
    SELECT 1 FROM core.credentials AS x
    WHERE x.tenant_id = %(tenant_id)s AND x.employee_id = c.employee_id
      AND x.credential_type = c.credential_type AND x.evidence_key = c.evidence_key
)
