-- For the credentials not matched by registry id: the registry's natural key
-- (learner_id, credential_type, credential_version = '<issue_date>.v<version>', as
-- include/sql/delivery/issue_sources.sql sends it). A separate step so the large
-- join above stays a plain hash join and only the few unmatched rows are looked up.
UPDATE recon_registry_match m
SET registry_id = r.registry_id, registry_status = r.status
FROM staging.registry_snapshot r
WHERE m.registry_id IS NULL
  AND r.snapshot_id = %(registry_snapshot)s
  AND r.learner_id = m.employee_id
  AND r.credential_type = m.credential_type
  AND r.credential_version = m.credential_version;
