-- Desired group membership of one tenant from the mapping rules (temp table group_rules, filled by
-- credsync.groups.membership) over active workers' HRIS attributes and IdP claims. Writes only the
-- difference into core.group_memberships; returns (added, removed). Params: tenant_id, mapping_version.
-- Values match trimmed and case-insensitively; a wildcard rule's group key gets the slugged value
-- (credsync.groups.mapping.slug does the same).
WITH people AS (
    -- A worker whose change waits for its effective date (a future termination, leave or transfer)
    -- counts as provisioning holds them today (core.worker_effective, valid for the record version
    -- it was computed from); everyone else as core.workers has them.
    SELECT w.employee_id, w.employment_type,
           CASE WHEN e.employee_id IS NULL THEN w.employment_status ELSE e.employment_status END AS employment_status,
           CASE WHEN e.employee_id IS NULL THEN w.department ELSE e.department END AS department,
           CASE WHEN e.employee_id IS NULL THEN w.job_title ELSE e.job_title END AS job_title,
           CASE WHEN e.employee_id IS NULL THEN w.location ELSE e.location END AS location
    FROM core.workers w
    LEFT JOIN core.worker_effective e ON e.tenant_id = w.tenant_id AND e.employee_id = w.employee_id
                                     AND e.source_updated_at = w.source_updated_at
    WHERE w.tenant_id = %(tenant_id)s
), attributes AS (
    SELECT w.employee_id, a.attribute, btrim(a.value) AS value
    FROM people w
    CROSS JOIN LATERAL (VALUES ('hris.department', w.department), ('hris.job_title', w.job_title),
                               ('hris.location', w.location), ('hris.employment_type', w.employment_type))
                       AS a (attribute, value)
    WHERE w.employment_status = 'active' AND nullif(btrim(a.value), '') IS NOT NULL
    UNION ALL
    SELECT c.employee_id, 'idp.' || c.claim_kind, btrim(c.claim_value)
    FROM core.idp_claims c
    JOIN people w ON w.employee_id = c.employee_id
    WHERE c.tenant_id = %(tenant_id)s AND w.employment_status = 'active'
), matched AS (
    SELECT a.employee_id, r.rule_id,
           CASE WHEN r.match_value = '*'
                THEN replace(r.target_group, '{value}',
                             btrim(regexp_replace(lower(a.value), '[^a-z0-9]+', '-', 'g'), '-'))
                ELSE r.target_group END AS group_key,
           CASE WHEN r.match_value = '*' THEN replace(r.display_name, '{value}', a.value)
                ELSE r.display_name END AS display_name
    FROM attributes a
    JOIN group_rules r ON r.attribute = a.attribute
                      AND (r.match_value = '*' OR lower(r.match_value) = lower(a.value))
    -- A value with nothing left once slugged (only punctuation) names no group.
    WHERE r.match_value <> '*' OR btrim(regexp_replace(lower(a.value), '[^a-z0-9]+', '-', 'g'), '-') <> ''
), desired AS (
    SELECT group_key, employee_id, array_agg(DISTINCT rule_id ORDER BY rule_id) AS rule_ids
    FROM matched
    WHERE group_key <> ''
    GROUP BY group_key, employee_id
), groups AS (
    -- Every group a rule names outright, and each wildcard group that has a member now.
    SELECT DISTINCT ON (group_key) group_key, display_name, rule_id
    FROM (SELECT target_group AS group_key, display_name, rule_id FROM group_rules WHERE match_value <> '*'
          UNION ALL
          SELECT group_key, display_name, rule_id FROM matched WHERE group_key <> '') g
    ORDER BY group_key, rule_id
), upsert_groups AS (
    INSERT INTO core.scim_groups AS g (tenant_id, group_key, display_name, rule_id, mapping_version)
    SELECT %(tenant_id)s, group_key, display_name, rule_id, %(mapping_version)s FROM groups
    ON CONFLICT (tenant_id, group_key) DO UPDATE
        SET display_name = EXCLUDED.display_name, rule_id = EXCLUDED.rule_id,
            mapping_version = EXCLUDED.mapping_version, managed = true, released_at = NULL,
            updated_at = now()
        WHERE g.display_name IS DISTINCT FROM EXCLUDED.display_name OR g.rule_id IS DISTINCT FROM EXCLUDED.rule_id
           OR g.mapping_version IS DISTINCT FROM EXCLUDED.mapping_version OR NOT g.managed
    RETURNING 1
), removed AS (
    DELETE FROM core.group_memberships m
    WHERE m.tenant_id = %(tenant_id)s
      AND NOT EXISTS (SELECT 1 FROM desired d WHERE d.group_key = m.group_key AND d.employee_id = m.employee_id)
    RETURNING 1
), added AS (
    INSERT INTO core.group_memberships AS m (tenant_id, group_key, employee_id, rule_ids, mapping_version)
    SELECT %(tenant_id)s, group_key, employee_id, rule_ids, %(mapping_version)s FROM desired
    ON CONFLICT (tenant_id, group_key, employee_id) DO UPDATE
        SET rule_ids = EXCLUDED.rule_ids, mapping_version = EXCLUDED.mapping_version
        WHERE m.rule_ids IS DISTINCT FROM EXCLUDED.rule_ids OR m.mapping_version IS DISTINCT FROM EXCLUDED.mapping_version
    RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM added WHERE inserted), (SELECT count(*) FROM removed),
       (SELECT count(*) FROM upsert_groups)
