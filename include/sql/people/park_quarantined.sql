-- Park the named records' quarantine rows of one batch (reviewed: the watermark may pass them).
-- Params: batch_id, record_keys (text[]), parked_by, note. Returns the keys parked.
UPDATE audit.quarantine
SET parked_at = now(), parked_by = %(parked_by)s, park_note = %(note)s
WHERE batch_id = %(batch_id)s AND record_key = ANY(%(record_keys)s) AND parked_at IS NULL
RETURNING record_key
