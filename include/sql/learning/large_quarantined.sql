-- Quarantined rows of the batch whose staged record may hold a string longer than audit.quarantine
-- keeps (its JSON text is then longer than that string): Python cuts them (credsync.quality.quarantine).
SELECT row_number, raw
FROM staging.completions
WHERE batch_id = %(batch_id)s AND quarantine_rule IS NOT NULL AND length(raw::text) > %(min_length)s
