-- Records staging rejected, with the rule and a reason naming record, field and rule.
-- Idempotent per (batch, record, rule): a re-staged batch adds nothing twice.
INSERT INTO audit.quarantine (batch_id, tenant_id, record_key, rule, reason, record)
VALUES (%s, %s, %s, %s, %s, %s::jsonb)
ON CONFLICT (batch_id, record_key, rule) DO NOTHING
