-- The credentials a manual status change names, wherever they are (the request is checked whole
-- before any tenant's task changes anything): status, hold, and whether the signed credential
-- points at a suspension list (only then can a verifier see a suspension).
SELECT c.credential_id::text, c.tenant_id, c.status, c.status_reason, c.status_changed_at,
       c.suspended_at, c.suspension_source,
       EXISTS (SELECT 1 FROM core.credential_status s
               WHERE s.credential_id = c.credential_id AND s.purpose = 'suspension') AS has_suspension_entry
FROM core.credentials c
WHERE c.credential_id = ANY(%(ids)s::uuid[])
