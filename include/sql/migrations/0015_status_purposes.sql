-- 0015_status_purposes: suspension beside revocation, and revocation made final in the schema.

-- A suspension is a temporary hold on an active credential (a worker on leave, an investigation):
-- the credential keeps its status and its bit in the issuer's suspension list is set while
-- suspended_at is set. suspension_source says who lifts it: 'hris_leave' holds are lifted by the
-- worker's return (recertification), 'manual' holds only by a manual unsuspend.
ALTER TABLE core.credentials
    ADD COLUMN suspended_at timestamptz,
    ADD COLUMN suspension_reason text,
    ADD COLUMN suspension_source text CHECK (suspension_source IN ('hris_leave', 'manual')),
    ADD CONSTRAINT credentials_suspension_complete CHECK (
        (suspended_at IS NULL AND suspension_reason IS NULL AND suspension_source IS NULL)
        OR (suspended_at IS NOT NULL AND suspension_reason IS NOT NULL AND suspension_source IS NOT NULL));

-- The daily leave sync and the publisher read suspended credentials per tenant.
CREATE INDEX credentials_suspended ON core.credentials (tenant_id) WHERE suspended_at IS NOT NULL;

-- Revocation is final (Bitstring Status List: a revocation MUST NOT be reversed): once 'revoked',
-- a credential's status never changes again, whatever code or person issues the UPDATE.
CREATE FUNCTION core.refuse_unrevoke() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'revoked' AND NEW.status IS DISTINCT FROM 'revoked' THEN
        RAISE EXCEPTION 'credential % is revoked (%): revocation is final and cannot be undone; issue a new credential instead',
            OLD.credential_id, coalesce(OLD.status_reason, 'no reason recorded')
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER credentials_revocation_final
    BEFORE UPDATE OF status ON core.credentials
    FOR EACH ROW EXECUTE FUNCTION core.refuse_unrevoke();
