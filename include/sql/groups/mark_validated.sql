UPDATE audit.batches
SET status = 'validated', validation = %(validation)s, data_docs_url = %(data_docs_url)s
WHERE batch_id = %(batch_id)s AND status = 'staged'
