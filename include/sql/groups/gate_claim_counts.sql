-- What the IdP gate judges before Great Expectations: claims staged now against the claims core
-- holds, and the quarantine of the batch. Params: tenant_id, batch_id.
SELECT (SELECT count(*) FROM staging.idp_claims WHERE batch_id = %(batch_id)s AND tenant_id = %(tenant_id)s),
       (SELECT count(*) FROM core.idp_claims WHERE tenant_id = %(tenant_id)s),
       (SELECT count(*) FROM audit.quarantine WHERE batch_id = %(batch_id)s)
