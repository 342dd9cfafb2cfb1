-- Step 1 of the issuance plan (credsync.credentials.plan): for each rule and worker,
-- the latest qualifying completion per required course (not voided, successful,
-- score >= min_score, completed before completed_before: the end of the evaluation
-- date for issuance, the grace cut-off for reconciliation), kept when every course
-- of the rule's set is covered. The chosen completions are kept as
-- 'source:source_id' references in course order (a source name has no ':'); their
-- evidence is only built for the rows that end up issued or withheld (step 3).
CREATE TEMP TABLE plan_met ON COMMIT DROP AS
WITH qualifying AS (
    SELECT r.rule_id, cardinality(r.course_codes) AS course_count,
           k.employee_id, k.course_code, k.source, k.source_id, k.completed_at,
           row_number() OVER (
               PARTITION BY r.rule_id, k.employee_id, k.course_code
               ORDER BY k.completed_at DESC, k.source, k.source_id DESC
           ) AS recency
    FROM credential_rules_eval AS r
    -- one row per course of the rule, so completions are hash-joined on the course
    -- instead of testing every completion against every rule
    CROSS JOIN LATERAL unnest(r.course_codes) AS rc(course_code)
    JOIN core.completions AS k
      ON k.tenant_id = %(tenant_id)s
     AND k.course_code = rc.course_code
    WHERE NOT k.voided
      AND k.success
      AND (r.min_score IS NULL OR k.score >= r.min_score)
      AND k.completed_at < %(completed_before)s
)
-- A single-course rule is met by its latest completion alone: no aggregation, which on a
-- large tenant (one group per worker) costs more than everything else in this step.
SELECT q.rule_id, q.employee_id, 1::bigint AS courses_met, q.completed_at AS met_at, q.completed_at AS oldest_at,
       ARRAY[q.source || ':' || q.source_id] AS item_refs, q.source || ':' || q.source_id AS evidence_key
FROM qualifying AS q
WHERE q.recency = 1 AND q.course_count = 1
UNION ALL
SELECT q.rule_id, q.employee_id,
       count(*) AS courses_met,
       max(q.completed_at) AS met_at,
       min(q.completed_at) AS oldest_at,
       array_agg(q.source || ':' || q.source_id ORDER BY q.course_code) AS item_refs,
       string_agg(q.source || ':' || q.source_id, ',' ORDER BY q.source, q.source_id) AS evidence_key
FROM qualifying AS q
WHERE q.recency = 1 AND q.course_count > 1
GROUP BY q.rule_id, q.employee_id, q.course_count
HAVING count(*) = q.course_count
