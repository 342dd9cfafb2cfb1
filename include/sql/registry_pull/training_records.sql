-- Source columns for include/mappings/registry_training_record_v1.csv: completions that count
-- (not voided), one per learner, course and day.
SELECT DISTINCT ON (employee_id, course_code, completed_at::date)
       employee_id,
       course_code           AS "completion.course_code",
       completed_at::date    AS "completion.completed_on",
       success               AS "completion.passed"
FROM core.completions
WHERE tenant_id = %(tenant_id)s
  AND employee_id = ANY(%(learners)s::text[])
  AND NOT voided
ORDER BY employee_id, course_code, completed_at::date, success DESC
