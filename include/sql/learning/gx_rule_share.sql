-- GX UnexpectedRowsExpectation: one row (so the gate fails) when more than $max_share
-- of the staged batch breaks a row rule. Recomputed in SQL, not trusted from Python:
-- no actor on a non-voiding row, a future timestamp, an unknown verb, a score out of
-- 0..100, or any quarantine the normaliser recorded.
WITH batch AS (
    SELECT * FROM {batch}
), judged AS (
    SELECT b.quarantine_rule IS NOT NULL
           OR (b.verb IS DISTINCT FROM 'voided' AND b.actor_key IS NULL)
           OR b.completed_at > now() + interval '5 minutes'
           OR b.verb IS NULL OR b.verb NOT IN ('completed', 'passed', 'failed', 'mastered', 'voided')
           OR b.score < 0 OR b.score > 100 AS bad
    FROM batch b
)
SELECT count(*) FILTER (WHERE bad) AS bad_rows, count(*) AS total_rows
FROM judged
HAVING count(*) > 0 AND count(*) FILTER (WHERE bad)::numeric / count(*) > $max_share
