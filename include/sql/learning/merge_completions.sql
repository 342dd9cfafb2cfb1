-- Resolved candidates into core.completions. Statements are immutable, so a re-pull
-- changes nothing; an LMS REST enrollment may change (retake), so a newer version wins.
-- A completion whose voiding statement arrived first is stored voided. A statement keeps the
-- content hash of the version stored, so a re-sent id with other content is recognised
-- (conflicting_duplicates.sql); candidates.sql hashed it. No RETURNING: the row count is the
-- figure, and a million returned ids would only fill the worker's memory.
INSERT INTO core.completions (
    tenant_id, source, source_id, employee_id, course_code, verb, success, score, completed_at,
    voided, voided_at, voided_by, registration, stored_at, batch_id, mapping_version, content_hash
)
SELECT %(tenant_id)s, r.source, r.source_id, r.employee_id, r.course_code, r.verb, r.success, r.score,
       r.completed_at, v.voided_by IS NOT NULL, v.voided_at, v.voided_by, r.registration, r.stored_at,
       r.batch_id, r.mapping_version,
       r.content_hash
FROM resolved_candidates AS r
LEFT JOIN core.voided_statements AS v
  ON v.tenant_id = %(tenant_id)s AND v.source = r.source AND v.voided_source_id = r.source_id
WHERE r.employee_id IS NOT NULL
ON CONFLICT (tenant_id, source, source_id) DO UPDATE
SET verb = excluded.verb, success = excluded.success, score = excluded.score,
    completed_at = excluded.completed_at, stored_at = excluded.stored_at,
    batch_id = excluded.batch_id, loaded_at = now()
WHERE core.completions.source = 'lms_rest'
  AND excluded.stored_at > core.completions.stored_at
