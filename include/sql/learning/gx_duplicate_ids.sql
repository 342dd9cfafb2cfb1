-- GX UnexpectedRowsExpectation (GX aliases {batch} itself when the query has no JOIN): (source, source_id) pairs that occur twice in the staged batch.
-- Extraction dedupes by id, so any row here means the pull itself is broken.
WITH batch AS (
    SELECT * FROM {batch}
)
SELECT b.source, b.source_id, count(*) AS copies
FROM batch b
WHERE b.source_id IS NOT NULL
GROUP BY b.source, b.source_id
HAVING count(*) > 1
