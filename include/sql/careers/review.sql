-- A granted eligibility whose prerequisite lapsed is recorded for HR to review, once per lapse.
-- Nothing is demoted: the case stays approved and the HRIS profile keeps what was written.
WITH reviewed AS (
    INSERT INTO core.career_eligibility_reviews (tenant_id, case_id, employee_id, reason)
    SELECT %(tenant_id)s::text, l.case_id, l.employee_id, l.reason FROM career_lapsed l
    WHERE l.state = 'approved' AND NOT l.rule_retired  -- a retired rule version is no lapse
    ON CONFLICT (tenant_id, case_id) WHERE resolved_at IS NULL DO NOTHING
    RETURNING case_id, reason
), flagged AS (
    UPDATE core.career_eligibility_cases c SET review_state = 'prerequisite_lapsed', updated_at = now()
    FROM reviewed r WHERE c.tenant_id = %(tenant_id)s AND c.case_id = r.case_id
    RETURNING c.case_id
), granted AS (
    UPDATE core.career_eligibility g SET review_state = 'prerequisite_lapsed', updated_at = now()
    FROM reviewed r WHERE g.tenant_id = %(tenant_id)s AND g.case_id = r.case_id
    RETURNING g.case_id
)
INSERT INTO core.career_eligibility_events (tenant_id, case_id, event, actor, reason, dag_run_id)
SELECT %(tenant_id)s::text, case_id, 'review_opened', 'credsync', reason, %(run_id)s::text FROM reviewed
RETURNING case_id
