-- The GX gate blocked the batch: nothing of it is loaded (records_loaded = 0, as for HRIS); its
-- quarantine stays, its staged rows stay for inspection until the window is retried as this batch.
UPDATE audit.batches
SET status = 'rejected', records_loaded = 0, validation = %(validation)s,
    data_docs_url = %(data_docs_url)s, finished_at = now()
WHERE batch_id = %(batch_id)s AND status IN ('staged', 'validated')
