-- What this merge tries to place: the batch's accepted, non-voiding rows plus every
-- completion still held from earlier runs (their worker may have arrived since).
-- A record both re-pulled and held appears once (the batch copy wins).
CREATE TEMP TABLE completion_candidates ON COMMIT DROP AS
SELECT DISTINCT ON (u.source, u.source_id) u.*
FROM (
    SELECT 'batch' AS origin, s.source, s.source_id, s.actor_key, s.course_code, s.verb, s.success, s.score,
           s.completed_at, s.stored_at, s.registration, s.mapping_version, s.batch_id, to_jsonb(s) AS record
    FROM staging.completions AS s
    WHERE s.batch_id = %(batch_id)s AND s.quarantine_rule IS NULL AND s.verb <> 'voided'
    UNION ALL
    SELECT 'held', h.source, h.source_id, h.actor_key, h.record ->> 'course_code', h.record ->> 'verb',
           (h.record ->> 'success')::boolean, (h.record ->> 'score')::numeric,
           (h.record ->> 'completed_at')::timestamptz, (h.record ->> 'stored_at')::timestamptz,
           h.record ->> 'registration', h.record ->> 'mapping_version', (h.record ->> 'batch_id')::uuid, h.record
    FROM core.held_completions AS h
    WHERE h.tenant_id = %(tenant_id)s AND h.released_at IS NULL
) AS u
ORDER BY u.source, u.source_id, u.origin
