INSERT INTO audit.batches (batch_id, tenant_id, source, stream, status, mapping_version, dag_run_id)
VALUES (%(batch_id)s, %(tenant_id)s, 'lms', 'completions', 'staged', %(mapping_version)s, %(dag_run_id)s)
