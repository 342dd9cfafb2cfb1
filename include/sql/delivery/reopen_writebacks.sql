-- Let a replay re-send write-backs that went dead (only those named).
UPDATE core.writebacks SET state = 'pending', updated_at = now()
WHERE tenant_id = %(tenant_id)s AND state = 'dead'
  AND employee_id || ':' || target || ':' || credential_type = ANY(%(keys)s)
