-- Record what staging saw. records_loaded counts staged rows until the gate decides;
-- records_quarantined includes the parked records this attempt diverted.
UPDATE audit.batches
SET records_in = %(records_in)s, records_loaded = %(records_loaded)s,
    records_quarantined = %(records_quarantined)s, schema_drift = %(schema_drift)s
WHERE batch_id = %(batch_id)s
