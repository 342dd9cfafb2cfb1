-- What this merge tries to place, each with the worker it names: the batch's accepted,
-- non-voiding rows plus every completion still held from earlier runs (their worker may have
-- arrived since). A record both re-pulled and held appears once (the batch copy wins; the gate
-- refused any batch naming an id twice). Batch rows carry their row_number and the content hash
-- of their statement (for merge_completions.sql), not a copy of the staged record: that is read
-- again only for the few rows held (hold_unresolved.sql).
-- Actors: account = employee_id, mbox = normalised work email (only when exactly one worker has
-- it), sha1 = hash of the work email's mailto: IRI (actor_hashes).
CREATE TEMP TABLE resolved_candidates ON COMMIT DROP AS
WITH batch AS (
    SELECT 'batch'::text AS origin, s.row_number, s.source, s.source_id, s.actor_key, s.course_code, s.verb,
           s.success, s.score, s.completed_at, s.stored_at, s.registration, s.mapping_version, s.batch_id,
           NULL::jsonb AS record,
           CASE WHEN s.source = 'xapi' THEN core.statement_content_hash(s.raw, s.completed_at) END AS content_hash
    FROM staging.completions AS s
    WHERE s.batch_id = %(batch_id)s AND s.quarantine_rule IS NULL AND s.verb <> 'voided'
), held AS (
    SELECT 'held'::text, NULL::integer, h.source, h.source_id, h.actor_key, h.record ->> 'course_code',
           h.record ->> 'verb', (h.record ->> 'success')::boolean, (h.record ->> 'score')::numeric,
           (h.record ->> 'completed_at')::timestamptz, (h.record ->> 'stored_at')::timestamptz,
           h.record ->> 'registration', h.record ->> 'mapping_version', (h.record ->> 'batch_id')::uuid, h.record,
           CASE WHEN h.source = 'xapi'
                THEN core.statement_content_hash(h.record -> 'raw', (h.record ->> 'completed_at')::timestamptz) END
    FROM core.held_completions AS h
    WHERE h.tenant_id = %(tenant_id)s AND h.released_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM staging.completions AS b
                      WHERE b.batch_id = %(batch_id)s AND b.quarantine_rule IS NULL AND b.verb <> 'voided'
                        AND b.source = h.source AND b.source_id = h.source_id)
), candidates AS (
    SELECT * FROM batch
    UNION ALL
    SELECT * FROM held
)
SELECT c.*,
       CASE split_part(c.actor_key, ':', 1)
           WHEN 'account' THEN wa.employee_id
           WHEN 'mbox' THEN (SELECT min(w.employee_id) FROM core.workers AS w
                             WHERE w.tenant_id = %(tenant_id)s
                               AND w.email_normalized = substr(c.actor_key, length('mbox:') + 1)
                             HAVING count(*) = 1)
           WHEN 'sha1' THEN (SELECT a.employee_id FROM actor_hashes AS a
                             WHERE a.sha1 = substr(c.actor_key, length('sha1:') + 1))
       END AS employee_id
FROM candidates AS c
LEFT JOIN core.workers AS wa
  ON split_part(c.actor_key, ':', 1) = 'account' AND wa.tenant_id = %(tenant_id)s
 AND wa.employee_id = substr(c.actor_key, length('account:') + 1)
