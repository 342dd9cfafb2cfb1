-- Source columns for the registry mapping (include/mappings/registry_certificate_v1.csv), the
-- same aliases as delivery/issue_sources.sql: the mapping decides what leaves. Status is added
-- by the endpoint (the registry pulls to learn it).
SELECT c.employee_id,
       c.status,
       c.tenant_id                                  AS "credential.tenant_id",
       c.employee_id                                AS "credential.employee_id",
       concat_ws(' ', w.given_name, w.family_name)  AS "worker.legal_name",
       c.credential_type                            AS "credential.credential_type",
       c.issue_date::text || '.v' || c.version      AS "credential.version_tag",
       c.issue_date                                 AS "credential.issue_date",
       c.expiry_date                                AS "credential.expiry_date",
       c.issuer                                     AS "credential.issuer",
       c.evidence_url                               AS "credential.evidence_url",
       c.vc_jwt                                     AS "credential.vc_jwt"
FROM core.credentials c
LEFT JOIN core.workers w ON w.tenant_id = c.tenant_id AND w.employee_id = c.employee_id
WHERE c.tenant_id = %(tenant_id)s
  AND c.employee_id = ANY(%(learners)s::text[])
ORDER BY c.employee_id, c.credential_type, c.issue_date, c.version
