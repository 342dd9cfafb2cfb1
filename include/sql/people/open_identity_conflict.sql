-- The open identity-conflict dead letter of one worker, if any: a rerun that finds the same
-- conflict again adds nothing.
SELECT detail
FROM audit.dead_letters
WHERE tenant_id = %(tenant_id)s AND source = %(source)s AND entity_key = %(employee_id)s
  AND reason = %(reason)s AND status = 'open'
