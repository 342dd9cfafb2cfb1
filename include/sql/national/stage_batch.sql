INSERT INTO staging.national_lrs_batch
    (tenant_id, batch_id, statement_id, actor_name, verb_id, object_id, object_type, platform, language,
     extension_keys)
VALUES (%(tenant_id)s, %(batch_id)s, %(statement_id)s, %(actor_name)s, %(verb_id)s, %(object_id)s,
        %(object_type)s, %(platform)s, %(language)s, %(extension_keys)s)
