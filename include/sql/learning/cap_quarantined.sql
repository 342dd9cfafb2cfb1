-- The staged copy of a quarantined record, cut as audit.quarantine stores it (quarantine_rows.sql copies it).
UPDATE staging.completions SET raw = %s::jsonb WHERE batch_id = %s AND row_number = %s AND quarantine_rule IS NOT NULL
