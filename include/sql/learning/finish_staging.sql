-- in = loaded + quarantined + dead; held completions count as loaded (they wait in core.held_completions).
UPDATE audit.batches AS b
SET records_in = c.total, records_quarantined = c.quarantined, records_loaded = c.total - c.quarantined,
    records_dead = 0
FROM (
    SELECT count(*) AS total, count(*) FILTER (WHERE quarantine_rule IS NOT NULL) AS quarantined
    FROM staging.completions WHERE batch_id = %(batch_id)s
) AS c
WHERE b.batch_id = %(batch_id)s
RETURNING b.records_in, b.records_loaded, b.records_quarantined, b.records_dead
