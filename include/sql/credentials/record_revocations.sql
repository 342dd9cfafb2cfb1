-- The decision log entry for one evidence_voided revocation.
INSERT INTO core.credential_decisions (
    tenant_id, employee_id, credential_type, decision, rule_id, rule_version,
    evidence_key, evidence, credential_id, run_id
)
VALUES (%(tenant_id)s, %(employee_id)s, %(credential_type)s, 'revoked_evidence_voided', %(rule_id)s,
        %(rule_version)s, %(evidence_key)s, %(evidence)s, %(credential_id)s, %(run_id)s)
ON CONFLICT (tenant_id, employee_id, credential_type, decision, evidence_key) DO NOTHING
