-- One audit.batches row per staged HRIS extract. Params: batch_id, tenant_id, mapping_version, dag_run_id.
INSERT INTO audit.batches (batch_id, tenant_id, source, stream, status, mapping_version, dag_run_id)
VALUES (%(batch_id)s, %(tenant_id)s, 'hris', 'workers', 'staged', %(mapping_version)s, %(dag_run_id)s)
