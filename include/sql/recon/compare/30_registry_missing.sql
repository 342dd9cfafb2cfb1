-- credentials <-> registry: an active credential the registry does not list,
-- unless its push is still in flight (pending/sent) or younger than the grace.
INSERT INTO recon_observed
SELECT 'credentials_registry', 'registry_missing', m.credential_id::text, m.credential_id::text,
       m.employee_id, m.credential_id, 'credentials', m.status,
       'registry', coalesce('submission ' || m.issue_state, 'never submitted')
FROM recon_registry_match m
WHERE m.status = 'active'
  AND m.registry_id IS NULL
  AND m.created_at < %(grace_cutoff)s
  AND m.issue_state IS DISTINCT FROM 'pending' AND m.issue_state IS DISTINCT FROM 'sent';
