INSERT INTO staging.credential_definitions
    (tenant_id, batch_id, credential_type, ce_ctid, name, description, subject_webpage, lifecycle, field_names)
VALUES (%(tenant_id)s, %(batch_id)s, %(credential_type)s, %(ctid)s, %(name)s, %(description)s,
        %(subject_webpage)s, %(lifecycle)s, %(field_names)s)
