-- The GX gate blocked the batch: nothing of it is loaded; staged rows stay for inspection/replay.
UPDATE audit.batches
SET status = 'rejected', records_loaded = 0, validation = %(validation)s,
    data_docs_url = %(data_docs_url)s, finished_at = now()
WHERE batch_id = %(batch_id)s AND status IN ('staged', 'validated')
