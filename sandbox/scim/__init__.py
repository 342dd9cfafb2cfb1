"""SCIM 2.0 sandbox: scim2-server with tenants, Bearer auth and state that survives restarts."""
