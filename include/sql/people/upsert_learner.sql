-- Record which LMS account a worker has and the state last seen/written there.
-- Returns a row only when something changed, so callers can tell a no-op.
INSERT INTO core.learners AS l (tenant_id, employee_id, scim_id, user_name, active, synced_hash, etag)
VALUES (%(tenant_id)s, %(employee_id)s, %(scim_id)s, %(user_name)s, %(active)s, %(synced_hash)s, %(etag)s)
ON CONFLICT (tenant_id, employee_id) DO UPDATE
SET scim_id = EXCLUDED.scim_id, user_name = EXCLUDED.user_name, active = EXCLUDED.active,
    synced_hash = EXCLUDED.synced_hash, etag = EXCLUDED.etag, updated_at = now()
WHERE (l.scim_id, l.user_name, l.active, l.synced_hash, l.etag)
      IS DISTINCT FROM (EXCLUDED.scim_id, EXCLUDED.user_name, EXCLUDED.active, EXCLUDED.synced_hash, EXCLUDED.etag)
RETURNING 1
