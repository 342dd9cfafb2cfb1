-- Groups the mapping no longer yields: a static group whose target_group no rule names, a wildcard
-- group whose rule is gone. Released (docs/groups.md): credsync stops managing them and leaves
-- them in the LMS as they are; their desired memberships go. Wildcard groups whose rule remains
-- stay managed even when empty. Params: tenant_id. Returns the released group keys.
WITH released AS (
    UPDATE core.scim_groups g
    SET managed = false, released_at = now(), updated_at = now()
    WHERE g.tenant_id = %(tenant_id)s AND g.managed
      AND NOT EXISTS (SELECT 1 FROM group_rules r
                      WHERE (r.match_value <> '*' AND r.target_group = g.group_key)
                         OR (r.match_value = '*' AND r.rule_id = g.rule_id))
    RETURNING g.group_key, g.scim_id
), gone AS (
    DELETE FROM core.group_memberships m USING released r
    WHERE m.tenant_id = %(tenant_id)s AND m.group_key = r.group_key
)
SELECT group_key, scim_id FROM released ORDER BY group_key
