-- New and renewed credentials; vc_jwt is filled by signing in the same transaction.
INSERT INTO core.credentials (
    credential_id, tenant_id, employee_id, credential_type, issuer, rule_id, rule_version,
    issue_date, expiry_date, status, status_reason, evidence, evidence_key, renewal_rule,
    pay_impact, previous_credential_id, version, award_id
)
SELECT p.new_credential_id, %(tenant_id)s, p.employee_id, p.credential_type, p.issuer, p.rule_id, p.rule_version,
       p.issue_date, p.expiry_date, 'active', p.decision,
       jsonb_build_object(
           'rule_id', p.rule_id, 'rule_version', p.rule_version, 'items', p.items,
           'met_at', p.met_at, 'evaluated_on', %(as_of)s::date
       ),
       p.evidence_key, 'reissue_within:' || p.renewal_window_days,
       p.pay_impact, p.previous_id, p.next_version,
       -- A renewal continues its predecessor's award (same VC id, newer validFrom).
       coalesce(prev.award_id, p.previous_id, p.new_credential_id)
FROM credential_plan AS p
LEFT JOIN core.credentials AS prev ON prev.credential_id = p.previous_id
WHERE p.decision IN ('issued', 'renewed')
