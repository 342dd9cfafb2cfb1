UPDATE audit.batches
SET status = 'rejected', validation = %(validation)s, data_docs_url = %(data_docs_url)s, finished_at = now()
WHERE batch_id = %(batch_id)s
