-- Record one built statement in the ledger (a statement id is recorded once; reruns add nothing).
INSERT INTO core.national_lrs_statements
    (tenant_id, statement_id, actor_name, verb, object_id, course_id, attempt_id, progress,
     certificate_id, certificate_url, statement, content_hash, state, refused_rule)
VALUES (%(tenant_id)s, %(statement_id)s, %(actor_name)s, %(verb)s, %(object_id)s, %(course_id)s,
        %(attempt_id)s, %(progress)s, %(certificate_id)s, %(certificate_url)s, %(statement)s,
        %(content_hash)s, %(state)s, %(refused_rule)s)
ON CONFLICT (tenant_id, statement_id) DO NOTHING
