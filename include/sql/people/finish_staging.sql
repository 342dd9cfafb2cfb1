-- Record what staging saw. records_loaded counts staged rows until the gate decides.
UPDATE audit.batches
SET records_in = %(records_in)s, records_loaded = %(records_loaded)s,
    records_quarantined = %(records_quarantined)s
WHERE batch_id = %(batch_id)s
