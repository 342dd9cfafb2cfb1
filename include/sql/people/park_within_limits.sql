-- At merge: the batch passed the gate with these records quarantined within the documented
-- limit (max_quarantine_share); they are parked by that policy in the same transaction that
-- moves the watermark past them, so every record passed is loaded or parked.
UPDATE audit.quarantine
SET parked_at = now(), parked_by = 'policy:max_quarantine_share',
    park_note = 'quarantined within the gate''s limit; merged with the rest of its batch'
WHERE batch_id = %(batch_id)s AND parked_at IS NULL
