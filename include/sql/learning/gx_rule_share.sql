-- GX UnexpectedRowsExpectation: when more than $max_share of the staged batch breaks a row
-- rule, returns the bad rows (so the gate fails and names them); no rows otherwise.
-- Recomputed in SQL, not trusted from Python: no actor on a non-voiding row, a future
-- timestamp, an unknown verb, a score out of 0..100, or any quarantine the normaliser recorded.
-- GX aliases {batch} itself only in queries without a JOIN; this one has one, so it aliases it.
WITH batch AS (
    SELECT * FROM {batch} AS staged
), judged AS (
    SELECT b.source_id, b.row_number,
           CASE
               WHEN b.quarantine_rule IS NOT NULL THEN b.quarantine_rule || ': ' || coalesce(b.quarantine_reason, '')
               WHEN b.verb IS DISTINCT FROM 'voided' AND b.actor_key IS NULL THEN 'no actor'
               WHEN b.completed_at > now() + interval '5 minutes' THEN 'completed_at ' || b.completed_at || ' in the future'
               WHEN b.verb IS NULL THEN 'no verb'
               WHEN b.verb NOT IN ('completed', 'passed', 'failed', 'mastered', 'voided') THEN 'unknown verb ' || b.verb
               WHEN b.score < 0 OR b.score > 100 THEN 'score ' || b.score || ' outside 0..100'
           END AS problem
    FROM batch b
), share AS (
    SELECT count(*) FILTER (WHERE problem IS NOT NULL) AS bad_rows, count(*) AS total_rows FROM judged
)
SELECT j.source_id, j.row_number, left(j.problem, 200) AS problem
FROM judged j CROSS JOIN share s
WHERE j.problem IS NOT NULL
  AND s.total_rows > 0 AND s.bad_rows::numeric / s.total_rows > $max_share
ORDER BY j.row_number
