-- What the HRIS gate judges before Great Expectations (which cannot see an empty staged batch):
-- the schema drift staging found, and how many records are quarantined and not parked.
-- A record with several quarantine rules counts once. Params: batch_id, tenant_id.
WITH q AS (
    SELECT record_key, bool_or(parked_at IS NOT NULL) AS parked
    FROM audit.quarantine
    WHERE batch_id = %(batch_id)s
    GROUP BY record_key
)
SELECT b.records_in, b.records_loaded, b.schema_drift,
       (SELECT count(*) FROM q WHERE NOT q.parked) AS unparked,
       (SELECT count(*) FROM q WHERE q.parked) AS parked
FROM audit.batches b
WHERE b.batch_id = %(batch_id)s AND b.tenant_id = %(tenant_id)s
