-- GX UnexpectedRowsExpectation (GX aliases {batch} itself when the query has no JOIN): (source, source_id) pairs that occur twice in the staged batch.
-- Extraction dedupes by id, so any row here means the pull itself is broken.
WITH batch AS (
    SELECT * FROM {batch}
)
SELECT b.source_id, min(b.row_number) AS row_number,
       b.source || ' id in ' || count(*) || ' rows (' || string_agg(b.row_number::text, ', ' ORDER BY b.row_number)
           || ')' AS problem
FROM batch b
WHERE b.source_id IS NOT NULL
GROUP BY b.source, b.source_id
HAVING count(*) > 1
