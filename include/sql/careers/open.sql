-- Open a case for each newly met (worker, rule, version); reopen one that expired unanswered or was
-- withdrawn and is met again (the next ask). Pending, approved and rejected cases are left alone:
-- a rerun opens nothing, a rejection is not asked again for the same rule version.
WITH opened AS (
    INSERT INTO core.career_eligibility_cases AS c
        (tenant_id, case_id, employee_id, rule_id, rule_version, eligible_for, approver_kind, approver,
         credential_ids, state, ask, approval_run_id)
    SELECT %(tenant_id)s::text, id.case_id, m.employee_id, m.rule_id, m.rule_version, m.eligible_for,
           m.approver_kind, m.approver, m.credential_ids, 'pending', 1,
           'career__' || %(tenant_id)s::text || '__' || id.case_id || '__1'
    FROM career_met m
    CROSS JOIN LATERAL (SELECT md5(concat_ws('|', %(tenant_id)s::text, m.employee_id, m.rule_id,
                                             m.rule_version))::uuid AS case_id) id
    ON CONFLICT (tenant_id, employee_id, rule_id, rule_version) DO UPDATE SET
        state = 'pending', state_reason = NULL, ask = c.ask + 1,
        approval_run_id = 'career__' || c.tenant_id || '__' || c.case_id || '__' || (c.ask + 1),
        approver_kind = excluded.approver_kind, approver = excluded.approver,
        credential_ids = excluded.credential_ids, opened_at = now(), updated_at = now()
    WHERE c.state IN ('expired', 'withdrawn')
    RETURNING c.case_id, c.ask
)
INSERT INTO core.career_eligibility_events (tenant_id, case_id, event, actor, reason, dag_run_id)
SELECT %(tenant_id)s::text, case_id, CASE WHEN ask = 1 THEN 'opened' ELSE 'reopened' END, 'credsync',
       'rule met (ask ' || ask || ')', %(run_id)s
FROM opened
RETURNING case_id
