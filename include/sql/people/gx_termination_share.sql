-- GX UnexpectedRowsExpectation: when the staged batch terminates more than $max_share of the
-- tenant's current workforce, returns the workers it would terminate (so the gate fails and
-- names them); no rows otherwise.
-- {batch} is the staged batch (one tenant); the $$-tokens come from include/quality/hris_workers.yaml.
-- GX aliases {batch} itself only in queries without a JOIN; this one has joins, so it aliases it.
WITH batch AS (
    SELECT * FROM {batch} AS staged
), workforce AS (
    SELECT count(*) AS current_workers
    FROM core.workers w
    WHERE w.tenant_id IN (SELECT tenant_id FROM batch) AND w.employment_status <> 'terminated'
), newly_terminated AS (
    SELECT b.employee_id, b.row_number
    FROM batch b
    JOIN core.workers w ON w.tenant_id = b.tenant_id AND w.employee_id = b.employee_id
    WHERE b.employment_status = 'terminated' AND w.employment_status <> 'terminated'
), share AS (
    SELECT count(*) AS terminations FROM newly_terminated
)
SELECT n.employee_id, n.row_number,
       'terminated: ' || s.terminations || ' of ' || f.current_workers || ' current workers (share '
           || round(s.terminations::numeric / f.current_workers, 3) || ' > $max_share)' AS problem
FROM newly_terminated n CROSS JOIN share s CROSS JOIN workforce f
WHERE f.current_workers >= $min_workforce
  AND s.terminations::numeric / NULLIF(f.current_workers, 0) > $max_share
ORDER BY n.row_number
