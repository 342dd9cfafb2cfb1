-- Open dead letters to replay, oldest first, optionally filtered by source and reason.
SELECT dead_letter_id, source, entity_key, reason, attempts
FROM audit.dead_letters
WHERE tenant_id = %(tenant_id)s
  AND status = 'open'
  AND source = ANY(%(sources)s)
  AND (%(reason)s::text IS NULL OR reason LIKE %(reason)s::text)
ORDER BY created_at, dead_letter_id
LIMIT %(limit)s
