-- A staged statement whose id is already stored with other content is quarantined as
-- conflicting_duplicate (see migration 0010): the first version stays where it is, the
-- quarantined record is the new version, and the reason names the id, the table, batch and
-- content hash of the first version and the hash of this one. An identical re-send (same hash)
-- is left alone: it merges as the no-op it has always been. Versions stored before 0010 whose
-- staged copy was gone have no hash and cannot be compared; they are left alone too.
-- Only rows that meet a stored version are hashed: an ordinary pull compares next to nothing.
WITH first_versions AS (
    SELECT s.row_number, s.source_id, core.statement_content_hash(s.raw, s.completed_at) AS new_hash,
           'core.completions' AS kept_in, k.batch_id AS first_batch, k.content_hash AS first_hash
    FROM staging.completions AS s
    JOIN core.completions AS k
      ON k.tenant_id = %(tenant_id)s AND k.source = 'xapi' AND k.source_id = s.source_id
    WHERE s.batch_id = %(batch_id)s AND s.source = 'xapi' AND s.quarantine_rule IS NULL
    UNION ALL
    SELECT s.row_number, s.source_id, core.statement_content_hash(s.raw, s.completed_at),
           'core.voided_statements', v.batch_id, v.content_hash
    FROM staging.completions AS s
    JOIN core.voided_statements AS v
      ON v.tenant_id = %(tenant_id)s AND v.source = 'xapi' AND v.voided_by = s.source_id
    WHERE s.batch_id = %(batch_id)s AND s.source = 'xapi' AND s.quarantine_rule IS NULL
    UNION ALL
    SELECT s.row_number, s.source_id, core.statement_content_hash(s.raw, s.completed_at),
           'core.held_completions', (h.record ->> 'batch_id')::uuid,
           core.statement_content_hash(h.record -> 'raw', (h.record ->> 'completed_at')::timestamptz)
    FROM staging.completions AS s
    JOIN core.held_completions AS h
      ON h.tenant_id = %(tenant_id)s AND h.source = 'xapi' AND h.source_id = s.source_id
    WHERE s.batch_id = %(batch_id)s AND s.source = 'xapi' AND s.quarantine_rule IS NULL
      AND h.released_at IS NULL
), conflicts AS (
    SELECT DISTINCT ON (f.row_number) f.*
    FROM first_versions AS f
    WHERE f.first_hash IS NOT NULL AND f.first_hash <> f.new_hash
    ORDER BY f.row_number, f.kept_in
)
UPDATE staging.completions AS s
SET quarantine_rule = 'conflicting_duplicate',
    quarantine_reason = 'statement ' || c.source_id || ' was already stored with other content: the first version'
        || ' (content sha256 ' || c.first_hash || ') came in batch ' || c.first_batch || ' and stays in '
        || c.kept_in || '; this version (content sha256 ' || c.new_hash || ') is the quarantined record.'
        || ' Statement ids are immutable: re-issue the change under a new id (and void the old one if needed)'
FROM conflicts AS c
WHERE s.batch_id = %(batch_id)s AND s.row_number = c.row_number
RETURNING s.source_id
