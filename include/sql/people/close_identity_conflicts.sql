-- Close the open identity-conflict letters of workers a provisioning run handled without a conflict
-- (the id was fixed at the HRIS, the other account was released, or the case policy changed).
-- Returns the employee ids closed.
UPDATE audit.dead_letters
SET status = 'replayed', replay_outcome = 'resolved: provisioning found no conflict', updated_at = now()
WHERE tenant_id = %(tenant_id)s AND source = %(source)s AND reason = %(reason)s AND status = 'open'
  AND entity_key = ANY(%(employee_ids)s::text[])
RETURNING entity_key
