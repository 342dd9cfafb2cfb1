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
       -- In words, the same for every row (the gate says it once): "80 of 277 current workers (28.9%)
       -- would be terminated, limit 20%".
       s.terminations || ' of ' || f.current_workers || ' current workers ('
           || round(100.0 * s.terminations / f.current_workers, 1) || '%) would be terminated, limit '
           || round(100 * $max_share::numeric, 1)::float8 || '%' AS problem
FROM newly_terminated n CROSS JOIN share s CROSS JOIN workforce f
WHERE f.current_workers >= $min_workforce
  AND s.terminations::numeric / NULLIF(f.current_workers, 0) > $max_share
ORDER BY n.row_number
