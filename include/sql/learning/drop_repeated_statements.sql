-- A statement the LRS sent more than once in one pull (a page boundary read twice, newest-first
-- pages shifting as statements arrive, the overlap window and the statement-id reconciliation
-- listing the same id) is staged once: its first row stays, the later copies are removed here.
-- In SQL rather than in a set of seen ids in the worker, so the pull's memory does not grow with
-- the number of statements. A later copy with other content is still a duplicate of an immutable
-- id (xAPI): the first one seen is the version kept, as the pull always did. LMS REST enrollments
-- are deduplicated before staging (the latest version wins), so only statements are matched.
WITH repeated AS (
    SELECT source_id, min(row_number) AS first_row
    FROM staging.completions
    WHERE batch_id = %(batch_id)s AND source = 'xapi' AND source_id IS NOT NULL
    GROUP BY source_id
    HAVING count(*) > 1
)
DELETE FROM staging.completions AS s
USING repeated AS r
WHERE s.batch_id = %(batch_id)s AND s.source = 'xapi' AND s.source_id = r.source_id
  AND s.row_number > r.first_row
