-- Records in / loaded / quarantined / dead-lettered per source and stream since a time.
SELECT source, stream,
       count(*)                                         AS batches,
       count(*) FILTER (WHERE status = 'rejected')      AS batches_rejected,
       coalesce(sum(records_in), 0)                     AS records_in,
       coalesce(sum(records_loaded), 0)                 AS loaded,
       coalesce(sum(records_quarantined), 0)            AS quarantined,
       coalesce(sum(records_dead), 0)                   AS dead_lettered
FROM audit.batches
WHERE created_at >= %(since)s
GROUP BY source, stream
ORDER BY source, stream;
