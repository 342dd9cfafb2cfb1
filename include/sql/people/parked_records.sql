-- Records parked in this batch and the HRIS version (updated_at) that was parked: staging
-- diverts exactly that version again; a newer one (fixed at the source) loads normally.
SELECT record_key, coalesce(record ->> 'updated_at', record -> 'staged' ->> 'source_updated_at')
FROM audit.quarantine
WHERE batch_id = %(batch_id)s AND parked_at IS NOT NULL AND record_key IS NOT NULL
