-- Renewal: the active credential steps aside (revoked, reason 'superseded') before
-- its successor is inserted, which the one-active partial unique index requires.
UPDATE core.credentials AS c
SET status = 'revoked', status_reason = 'superseded', status_changed_at = now()
FROM credential_plan AS p
WHERE p.decision = 'renewed'
  AND c.credential_id = p.active_id
  AND c.status = 'active'
