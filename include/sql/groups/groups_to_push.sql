-- Managed groups with their desired members as LMS (SCIM) user ids, and whether they need a push:
-- never created, desired members changed since the last push, or reconciliation asked for a
-- re-read. Members whose LMS account does not exist yet (or is inactive) are pending: they join
-- once provisioning has created (or reactivated) the account. Params: tenant_id, full.
SELECT g.group_key, g.display_name, g.scim_id,
       coalesce(array_agg(l.scim_id ORDER BY l.scim_id) FILTER (WHERE l.scim_id IS NOT NULL), '{}') AS member_ids,
       coalesce(array_agg(l.employee_id ORDER BY l.scim_id) FILTER (WHERE l.scim_id IS NOT NULL), '{}') AS employee_ids,
       count(m.employee_id) FILTER (WHERE l.scim_id IS NULL) AS pending,
       md5(coalesce(string_agg(l.scim_id, ',' ORDER BY l.scim_id), '')) AS desired_hash,
       g.synced_hash, g.resync_requested_at IS NOT NULL AS resync
FROM core.scim_groups g
LEFT JOIN core.group_memberships m ON m.tenant_id = g.tenant_id AND m.group_key = g.group_key
LEFT JOIN core.learners l ON l.tenant_id = m.tenant_id AND l.employee_id = m.employee_id AND l.active
WHERE g.tenant_id = %(tenant_id)s AND g.managed
GROUP BY g.tenant_id, g.group_key
ORDER BY g.group_key
