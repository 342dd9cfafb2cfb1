-- Statement ids of this tenant that a MERGED learning batch quarantined: when an LRS sends them
-- again (an overlap window; Ralph returns a future-dated statement on every pull) they are skipped,
-- not re-counted against the new batch. A refused batch's quarantine is not here: that batch is
-- re-staged as itself and must see its records again.
SELECT DISTINCT q.record_key
FROM audit.quarantine AS q
JOIN audit.batches AS b ON b.batch_id = q.batch_id
WHERE q.tenant_id = %(tenant_id)s
  AND b.tenant_id = %(tenant_id)s AND b.source = 'lms' AND b.stream = 'completions' AND b.status = 'merged'
  AND q.record_key IS NOT NULL
