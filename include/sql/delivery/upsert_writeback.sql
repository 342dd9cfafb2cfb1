INSERT INTO core.writebacks (tenant_id, employee_id, target, credential_type, credential_id, status, summary,
                             effective_from, effective_to, payload_hash, state, attempts, delivered_at)
VALUES (%(tenant_id)s, %(employee_id)s, %(target)s, %(credential_type)s, %(credential_id)s, %(status)s,
        %(summary)s, %(effective_from)s, %(effective_to)s, %(payload_hash)s, %(state)s, 1,
        CASE WHEN %(state)s = 'delivered' THEN now() END)
ON CONFLICT (tenant_id, employee_id, target, credential_type) DO UPDATE
SET credential_id = EXCLUDED.credential_id, status = EXCLUDED.status, summary = EXCLUDED.summary,
    effective_from = EXCLUDED.effective_from, effective_to = EXCLUDED.effective_to,
    payload_hash = EXCLUDED.payload_hash, state = EXCLUDED.state,
    attempts = core.writebacks.attempts + 1,
    delivered_at = coalesce(EXCLUDED.delivered_at, core.writebacks.delivered_at),
    updated_at = now()
