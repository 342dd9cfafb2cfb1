-- The run's credential rules (staging.credential_rules_snapshot) as the
-- credential_rules_eval table the issuance plan reads; created by
-- include/sql/credentials/rules_temp_table.sql just before. Reconciliation only
-- reads the plan's decision, so the display-only columns get neutral values.
INSERT INTO credential_rules_eval (rule_id, course_codes, credential_type, achievement_name, min_score,
    validity_days, renewal_window_days, requires_credential, pay_impact, issuer, rule_version)
SELECT DISTINCT ON (r.rule_id)
       r.rule_id, string_to_array(r.course_codes, '+'), r.credential_type, r.credential_type, r.min_score,
       r.validity_days, r.renewal_window_days, r.requires_credential, false, '', r.rule_version
FROM staging.credential_rules_snapshot r
WHERE r.snapshot_id = %(rules_snapshot)s
ORDER BY r.rule_id;
