-- Which employee each LMS account (SCIM id) of a tenant is bound to: provisioning never hands
-- an account bound to one employee to another.
SELECT scim_id, employee_id FROM core.learners WHERE tenant_id = %(tenant_id)s
