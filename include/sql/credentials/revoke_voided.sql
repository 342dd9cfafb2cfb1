-- An active credential whose evidence includes a voided completion is revoked
-- (reason 'evidence_voided'): a voided statement must not keep a credential alive.
-- Returns the revoked credentials for the decision log and the audit trail.
UPDATE core.credentials AS c
SET status = 'revoked', status_reason = 'evidence_voided', status_changed_at = now()
WHERE c.tenant_id = %(tenant_id)s
  AND c.status = 'active'
  AND EXISTS (
      SELECT 1
      FROM jsonb_array_elements(c.evidence -> 'items') AS item
      JOIN core.completions AS k
        ON k.tenant_id = c.tenant_id
       AND k.source = item ->> 'source'
       AND k.source_id = item ->> 'source_id'
      WHERE k.voided
  )
RETURNING c.credential_id, c.employee_id, c.credential_type, c.rule_id, c.rule_version,
          c.evidence_key, c.evidence
