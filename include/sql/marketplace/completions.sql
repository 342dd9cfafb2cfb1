-- The learning records of one tenant (voided ones too: a course whose every record is voided is 'dropped').
-- Params: %(tenant_id)s.
SELECT employee_id, course_code, success, score, completed_at, voided
FROM core.completions
WHERE tenant_id = %(tenant_id)s
ORDER BY employee_id, course_code, completed_at, source, source_id
