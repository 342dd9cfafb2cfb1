-- A voided xAPI completion takes its LMS REST twin with it: the same enrollment (REST
-- enrollment_id = the statement's context.registration), person and course. Otherwise a
-- credential issued from the REST copy outlives the void (credentials/revoke_voided.sql revokes
-- on any voided evidence). Only pairs this batch touched are looked at: voids it applied, voided
-- statements it merged, REST rows it wrote. Never deleted: the twin is marked voided, by the same
-- voiding statement.
WITH touched AS (
    SELECT x.employee_id, x.course_code, lower(x.registration) AS registration, x.voided_at, x.voided_by
    FROM core.completions AS x
    WHERE x.tenant_id = %(tenant_id)s AND x.source = 'xapi' AND x.voided AND x.registration IS NOT NULL
      AND (x.batch_id = %(batch_id)s
           OR x.voided_by IN (SELECT s.source_id FROM staging.completions AS s
                              WHERE s.batch_id = %(batch_id)s AND s.verb = 'voided' AND s.quarantine_rule IS NULL))
    UNION ALL
    SELECT x.employee_id, x.course_code, lower(x.registration), x.voided_at, x.voided_by
    FROM core.completions AS t
    JOIN core.completions AS x
      ON x.tenant_id = t.tenant_id AND x.source = 'xapi' AND x.voided
     AND lower(x.registration) = lower(t.registration)
    WHERE t.tenant_id = %(tenant_id)s AND t.source = 'lms_rest' AND t.batch_id = %(batch_id)s AND NOT t.voided
)
UPDATE core.completions AS t
SET voided = true, voided_at = v.voided_at, voided_by = v.voided_by
FROM touched AS v
WHERE t.tenant_id = %(tenant_id)s AND t.source = 'lms_rest' AND NOT t.voided
  AND lower(t.registration) = v.registration
  AND t.employee_id = v.employee_id AND t.course_code = v.course_code
