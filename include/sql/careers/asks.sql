-- The pending cases of one tenant with their approval run: the evaluation asks for each (a run that
-- exists already is skipped by its id, so asking again is harmless).
SELECT case_id::text, ask, approval_run_id
FROM core.career_eligibility_cases
WHERE tenant_id = %(tenant_id)s AND state = 'pending'
ORDER BY opened_at, case_id
LIMIT %(limit)s
