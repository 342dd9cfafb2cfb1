-- Every decision that changed something, or withheld a credential, with its rule
-- version and evidence; the unique key makes reruns over the same evidence no-ops.
INSERT INTO core.credential_decisions (
    tenant_id, employee_id, credential_type, decision, rule_id, rule_version,
    evidence_key, evidence, credential_id, run_id
)
SELECT %(tenant_id)s, p.employee_id, p.credential_type, p.decision, p.rule_id, p.rule_version,
       p.evidence_key,
       jsonb_build_object('items', p.items, 'met_at', p.met_at, 'evaluated_on', %(as_of)s::date,
                          'expiry_date', p.expiry_date, 'employment_status', p.employment_status),
       CASE WHEN p.decision IN ('issued', 'renewed') THEN p.new_credential_id END,
       %(run_id)s
FROM credential_plan AS p
WHERE p.decision <> 'none'
ON CONFLICT (tenant_id, employee_id, credential_type, decision, evidence_key) DO NOTHING
RETURNING decision
