-- What credsync last told the HRIS/payroll, to send only what changed.
SELECT employee_id, target, credential_type, payload_hash, state
FROM core.writebacks
WHERE tenant_id = %(tenant_id)s
