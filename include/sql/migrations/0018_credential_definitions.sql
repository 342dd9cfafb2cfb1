-- 0018_credential_definitions: credential types published to a Credential Engine-style registry.
-- One CTID per type, minted once and reused on every update; retired by lifecycle, never deleted.
CREATE TABLE core.credential_definitions (
    -- Definitions belong to the issuing organisation, shared by all tenants: one pseudo-tenant, the
    -- one their audit events and dead letters are chained under (credsync.definitions.publish).
    tenant_id       text NOT NULL DEFAULT '_definitions' CHECK (tenant_id = '_definitions'),
    credential_type text PRIMARY KEY,
    ce_ctid         text NOT NULL UNIQUE  -- the registry CTID (ctid is a Postgres system column)
                    CHECK (ce_ctid ~ '^ce-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    lifecycle       text NOT NULL DEFAULT 'active' CHECK (lifecycle IN ('active', 'ceased')),
    published_hash  text,            -- sha256 of the last definition the registry accepted
    definition      jsonb,           -- that definition (what a retirement republishes as Ceased)
    versions        integer NOT NULL DEFAULT 0,
    minted_at       timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz
);

-- A CTID is the definition's identity in the registry: it never changes and the row never goes.
CREATE FUNCTION core.credential_definitions_keep_ctid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'credential definition % (%) cannot be deleted: retire it (lifecycle ceased)',
            OLD.credential_type, OLD.ce_ctid;
    END IF;
    IF NEW.ce_ctid IS DISTINCT FROM OLD.ce_ctid OR NEW.credential_type IS DISTINCT FROM OLD.credential_type THEN
        RAISE EXCEPTION 'credential definition %: its CTID % is minted once and never changes',
            OLD.credential_type, OLD.ce_ctid;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER credential_definitions_keep_ctid
    BEFORE UPDATE OR DELETE ON core.credential_definitions
    FOR EACH ROW EXECUTE FUNCTION core.credential_definitions_keep_ctid();

-- What a run is about to publish, gated by GX (suite credential_definitions) before anything is sent.
CREATE TABLE staging.credential_definitions (
    tenant_id       text NOT NULL,   -- '_definitions': definitions belong to the issuing organisation
    batch_id        uuid NOT NULL,
    credential_type text NOT NULL,
    ce_ctid         text,
    name            text,
    description     text,
    subject_webpage text,
    lifecycle       text,
    field_names     text,            -- the definition's keys, comma-joined (no field outside the definition)
    staged_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_id, credential_type)
);
