-- Groups compared: every managed group of the tenant. Params: tenant_id.
SELECT count(*) FROM core.scim_groups WHERE tenant_id = %(tenant_id)s AND managed
