-- A granted eligibility whose rule is met again (renewed credential): its open review is resolved.
WITH resolved AS (
    UPDATE core.career_eligibility_reviews v SET resolved_at = now()
    FROM core.career_eligibility_cases c
    JOIN career_met m ON m.employee_id = c.employee_id AND m.rule_id = c.rule_id
                     AND m.rule_version = c.rule_version
    WHERE v.tenant_id = %(tenant_id)s AND v.resolved_at IS NULL
      AND c.tenant_id = v.tenant_id AND c.case_id = v.case_id
    RETURNING v.case_id
), cases AS (
    UPDATE core.career_eligibility_cases c SET review_state = NULL, updated_at = now()
    FROM resolved r WHERE c.tenant_id = %(tenant_id)s AND c.case_id = r.case_id
)
UPDATE core.career_eligibility g SET review_state = NULL, updated_at = now()
FROM resolved r WHERE g.tenant_id = %(tenant_id)s AND g.case_id = r.case_id
RETURNING g.case_id
