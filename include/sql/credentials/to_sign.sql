-- The credentials this run created, with what their VC states and the award they continue.
SELECT c.credential_id, c.employee_id, c.credential_type, p.achievement_name, c.issuer, c.rule_id,
       c.rule_version, c.issue_date, c.expiry_date, c.previous_credential_id, c.version,
       p.decision, p.met_at, p.items, c.award_id, coalesce(award.issue_date, c.issue_date) AS awarded_date
FROM core.credentials AS c
JOIN credential_plan AS p ON p.new_credential_id = c.credential_id
LEFT JOIN core.credentials AS award ON award.credential_id = c.award_id
WHERE c.vc_jwt IS NULL
ORDER BY c.employee_id, c.credential_type
