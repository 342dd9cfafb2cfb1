-- Pending and approved cases the worker no longer meets, with the reason in plain words: which
-- required credential lapsed (expired, revoked, missing), else the HRIS side (status, tenure,
-- department), else the rule version has left the rules file.
CREATE TEMP TABLE career_lapsed ON COMMIT DROP AS
WITH rules AS (
    SELECT * FROM jsonb_to_recordset(%(rules)s::jsonb) AS r(rule_id text, rule_version integer,
                                                          credential_types text[])
), gone AS (
    SELECT c.case_id, c.state, c.employee_id, c.rule_id, c.rule_version
    FROM core.career_eligibility_cases c
    WHERE c.tenant_id = %(tenant_id)s AND c.state IN ('pending', 'approved')
      AND NOT EXISTS (SELECT 1 FROM career_met m WHERE m.employee_id = c.employee_id
                      AND m.rule_id = c.rule_id AND m.rule_version = c.rule_version)
), lapses AS (
    SELECT g.case_id,
           string_agg(t.credential_type || ' ' || CASE
               WHEN last.status IS NULL THEN 'not held'
               WHEN last.status = 'active' THEN 'expired on ' || last.expiry_date
               WHEN last.status = 'expired' THEN 'expired' || coalesce(' on ' || last.expiry_date, '')
               ELSE last.status || coalesce(' (' || last.status_reason || ')', '') END,
               ', ' ORDER BY t.credential_type) AS credentials
    FROM gone g
    JOIN rules r ON r.rule_id = g.rule_id AND r.rule_version = g.rule_version
    CROSS JOIN LATERAL unnest(r.credential_types) AS t(credential_type)
    LEFT JOIN LATERAL (
        SELECT x.status, x.expiry_date, x.status_reason FROM core.credentials x
        WHERE x.tenant_id = %(tenant_id)s AND x.employee_id = g.employee_id AND x.credential_type = t.credential_type
        ORDER BY (x.status = 'active') DESC, x.status_changed_at DESC LIMIT 1) last ON true
    WHERE last.status IS DISTINCT FROM 'active' OR last.expiry_date <= %(as_of)s::date
    GROUP BY g.case_id
)
SELECT g.case_id, g.state, g.employee_id, r.rule_id IS NULL AS rule_retired,
       CASE WHEN r.rule_id IS NULL
                THEN 'rule ' || g.rule_id || ' version ' || g.rule_version || ' is no longer in the rules file'
            WHEN l.credentials IS NOT NULL THEN 'prerequisite lapsed: ' || l.credentials
            ELSE 'worker no longer meets the rule in the HRIS (employment status, tenure or department)' END
           AS reason
FROM gone g
LEFT JOIN lapses l USING (case_id)
LEFT JOIN rules r ON r.rule_id = g.rule_id AND r.rule_version = g.rule_version
