UPDATE audit.batches SET status = 'merged', finished_at = now() WHERE batch_id = %(batch_id)s
