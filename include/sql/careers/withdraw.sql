-- A pending case whose rule is no longer met is withdrawn with the reason (its approval run, if it
-- is still waiting, then finds nothing to decide).
WITH withdrawn AS (
    UPDATE core.career_eligibility_cases c
    SET state = 'withdrawn', state_reason = l.reason, updated_at = now()
    FROM career_lapsed l
    WHERE c.tenant_id = %(tenant_id)s AND c.case_id = l.case_id AND c.state = 'pending'
    RETURNING c.case_id, l.reason
)
INSERT INTO core.career_eligibility_events (tenant_id, case_id, event, actor, reason, dag_run_id)
SELECT %(tenant_id)s::text, case_id, 'withdrawn', 'credsync', reason, %(run_id)s::text FROM withdrawn
RETURNING case_id
