-- GX UnexpectedRowsExpectation: returns one row (so fails) when the staged batch
-- terminates more than $max_share of the tenant's current workforce.
-- {batch} is the staged batch (one tenant); the $$-tokens come from include/quality/hris_workers.yaml.
-- GX aliases {batch} itself only in queries without a JOIN; this one has joins, so it aliases it.
WITH batch AS (
    SELECT * FROM {batch} AS staged
), workforce AS (
    SELECT count(*) AS current_workers
    FROM core.workers w
    WHERE w.tenant_id IN (SELECT tenant_id FROM batch) AND w.employment_status <> 'terminated'
), newly_terminated AS (
    SELECT count(*) AS terminations
    FROM batch b
    JOIN core.workers w ON w.tenant_id = b.tenant_id AND w.employee_id = b.employee_id
    WHERE b.employment_status = 'terminated' AND w.employment_status <> 'terminated'
)
SELECT t.terminations, f.current_workers,
       round(t.terminations::numeric / NULLIF(f.current_workers, 0), 4) AS termination_share
FROM newly_terminated t CROSS JOIN workforce f
WHERE f.current_workers >= $min_workforce
  AND t.terminations::numeric / NULLIF(f.current_workers, 0) > $max_share
