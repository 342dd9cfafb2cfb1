-- Dashboards: the open findings of one tenant and type, oldest first.
SELECT entity_key, employee_id, left_system, left_value, right_system, right_value, first_seen, times_seen,
       action, action_detail, owner
FROM recon.v_open_findings
WHERE tenant_id = %(tenant_id)s AND finding_type = %(finding_type)s
ORDER BY first_seen, entity_key
LIMIT %(limit)s
