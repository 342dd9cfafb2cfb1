-- credentials <-> registry: a certificate the registry lists for this tenant
-- that matches none of our credentials.
INSERT INTO recon_observed
SELECT 'credentials_registry', 'registry_unknown', 'registry:' || r.registry_id, 'registry:' || r.registry_id,
       r.learner_id, NULL, 'credentials', NULL,
       'registry', r.credential_type || ' v' || r.credential_version || ' ' || r.status
FROM staging.registry_snapshot r
WHERE r.snapshot_id = %(registry_snapshot)s
  AND NOT EXISTS (SELECT 1 FROM recon_registry_match m WHERE m.registry_id = r.registry_id);
