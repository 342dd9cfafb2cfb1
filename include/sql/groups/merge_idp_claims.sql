-- Replace the tenant's IdP claims with the validated batch (the IdP listing is complete each
-- time: a claim it no longer lists is gone). Only claims that changed are written, so a rerun of
-- an identical listing writes nothing. Params: tenant_id, batch_id. Returns (inserted, deleted).
WITH staged AS (
    SELECT DISTINCT ON (employee_id, claim_kind, claim_value) employee_id, claim_kind, claim_value, idp_user_id
    FROM staging.idp_claims
    WHERE batch_id = %(batch_id)s AND tenant_id = %(tenant_id)s
    ORDER BY employee_id, claim_kind, claim_value, row_number
), deleted AS (
    DELETE FROM core.idp_claims c
    WHERE c.tenant_id = %(tenant_id)s
      AND NOT EXISTS (SELECT 1 FROM staged s WHERE s.employee_id = c.employee_id
                      AND s.claim_kind = c.claim_kind AND s.claim_value = c.claim_value)
    RETURNING 1
), inserted AS (
    INSERT INTO core.idp_claims AS c (tenant_id, employee_id, claim_kind, claim_value, idp_user_id, last_batch_id)
    SELECT %(tenant_id)s, employee_id, claim_kind, claim_value, idp_user_id, %(batch_id)s FROM staged
    ON CONFLICT (tenant_id, employee_id, claim_kind, claim_value) DO UPDATE
        SET idp_user_id = EXCLUDED.idp_user_id, last_batch_id = EXCLUDED.last_batch_id, updated_at = now()
        WHERE c.idp_user_id IS DISTINCT FROM EXCLUDED.idp_user_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM deleted)
