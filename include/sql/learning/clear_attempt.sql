-- Before a refused batch is staged again (same window): drop the previous attempt's staged rows and
-- its unparked quarantine; this attempt writes them again from the records it pulls now (a record
-- fixed at the source meanwhile is no longer quarantined). Parked rows stay (as for HRIS).
WITH staged AS (
    DELETE FROM staging.completions WHERE batch_id = %(batch_id)s
)
DELETE FROM audit.quarantine WHERE batch_id = %(batch_id)s AND parked_at IS NULL
