-- Before a batch is staged again: drop the previous attempt's staged rows and its unparked
-- quarantine (this attempt writes them again from the same records). Parked rows stay.
WITH staged AS (
    DELETE FROM staging.hris_workers WHERE batch_id = %(batch_id)s
)
DELETE FROM audit.quarantine WHERE batch_id = %(batch_id)s AND parked_at IS NULL
