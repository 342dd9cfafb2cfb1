-- Source columns for the registry mapping (include/mappings/registry_certificate_v1.csv).
-- Aliases are the mapping's source_field names; the mapping decides what leaves.
SELECT s.idempotency_key,
       s.credential_id,
       s.version,
       s.attempts,
       c.tenant_id                                  AS "credential.tenant_id",
       c.employee_id                                AS "credential.employee_id",
       concat_ws(' ', w.given_name, w.family_name)  AS "worker.legal_name",
       c.credential_type                            AS "credential.credential_type",
       c.issue_date::text || '.v' || s.version      AS "credential.version_tag",
       c.issue_date                                 AS "credential.issue_date",
       c.expiry_date                                AS "credential.expiry_date",
       c.issuer                                     AS "credential.issuer",
       c.evidence_url                               AS "credential.evidence_url",
       c.vc_jwt                                     AS "credential.vc_jwt"
FROM core.registry_submissions s
JOIN core.credentials c ON c.credential_id = s.credential_id
LEFT JOIN core.workers w ON w.tenant_id = c.tenant_id AND w.employee_id = c.employee_id
WHERE s.tenant_id = %(tenant_id)s
  AND s.operation = 'issue'
  AND s.idempotency_key = ANY(%(keys)s)
  AND s.state = ANY(%(states)s::text[])
ORDER BY s.idempotency_key
