-- The first unparked quarantined records of a batch, for the gate's log line. Params: batch_id, n.
SELECT record_key, rule, reason
FROM audit.quarantine
WHERE batch_id = %(batch_id)s AND parked_at IS NULL
ORDER BY quarantine_id
LIMIT %(n)s
