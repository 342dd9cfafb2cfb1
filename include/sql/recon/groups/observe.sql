-- Group membership: core's desired membership of the managed groups (members with an active LMS
-- account) against the LMS groups as listed (staging.lms_group_members). Subject = group_key: the
-- drift rate counts groups. Needs the temp table recon_observed (recon/prepare.sql).
-- Params: tenant_id, groups_snapshot.
WITH managed AS (
    SELECT group_key, scim_id FROM core.scim_groups WHERE tenant_id = %(tenant_id)s AND managed
), listed AS (
    SELECT group_scim_id, member_scim_id FROM staging.lms_group_members
    WHERE tenant_id = %(tenant_id)s AND snapshot_id = %(groups_snapshot)s
), listed_groups AS (
    SELECT DISTINCT group_scim_id FROM listed
), desired AS (
    SELECT m.group_key, g.scim_id AS group_scim_id, l.scim_id AS member_scim_id, l.employee_id
    FROM core.group_memberships m
    JOIN managed g ON g.group_key = m.group_key
    JOIN core.learners l ON l.tenant_id = m.tenant_id AND l.employee_id = m.employee_id AND l.active
    WHERE m.tenant_id = %(tenant_id)s
)
INSERT INTO recon_observed (comparison, finding_type, entity_key, subject, employee_id, credential_id,
                            left_system, left_value, right_system, right_value)
SELECT 'scim_groups', 'group_missing', g.group_key, g.group_key, NULL, NULL::uuid,
       'credsync', g.group_key, 'lms', g.scim_id
FROM managed g
WHERE g.scim_id IS NULL OR g.scim_id NOT IN (SELECT group_scim_id FROM listed_groups)
UNION ALL
SELECT 'scim_groups', 'group_member_missing', d.group_key || ':' || d.employee_id, d.group_key, d.employee_id, NULL,
       'credsync', d.member_scim_id, 'lms', NULL
FROM desired d
WHERE d.group_scim_id IN (SELECT group_scim_id FROM listed_groups)
  AND NOT EXISTS (SELECT 1 FROM listed x
                  WHERE x.group_scim_id = d.group_scim_id AND x.member_scim_id = d.member_scim_id)
UNION ALL
SELECT 'scim_groups', 'group_member_unexpected', g.group_key || ':' || l.employee_id, g.group_key, l.employee_id,
       NULL, 'credsync', NULL, 'lms', x.member_scim_id
FROM listed x
JOIN managed g ON g.scim_id = x.group_scim_id
JOIN core.learners l ON l.tenant_id = %(tenant_id)s AND l.scim_id = x.member_scim_id
WHERE NOT EXISTS (SELECT 1 FROM desired d
                  WHERE d.group_scim_id = x.group_scim_id AND d.member_scim_id = x.member_scim_id)
UNION ALL
SELECT 'scim_groups', 'group_member_foreign', g.group_key || ':' || x.member_scim_id, g.group_key, NULL, NULL,
       'credsync', NULL, 'lms', x.member_scim_id
FROM listed x
JOIN managed g ON g.scim_id = x.group_scim_id
WHERE x.member_scim_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM core.learners l WHERE l.tenant_id = %(tenant_id)s AND l.scim_id = x.member_scim_id)
