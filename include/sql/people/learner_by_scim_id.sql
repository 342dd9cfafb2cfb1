-- The employee core.learners binds one SCIM id to (names the other side of an identity conflict).
SELECT employee_id FROM core.learners WHERE tenant_id = %(tenant_id)s AND scim_id = %(scim_id)s
