-- 0021_erasure: erasure requests, and the keyed pseudonym mapping held apart from the data it unlocks.
--
-- vault.pseudonyms maps a tenant's pseudonym back to the original value, encrypted (AES-GCM) with a
-- per-tenant key derived from the Airflow Connection credsync_pseudonym_key, so neither a dump of the
-- warehouse nor a role that can read the schema re-identifies anyone without the key. On top of the
-- key, grants: the pipeline's role may only add mappings; reading them is for credsync_reidentifier,
-- whose members are the people allowed to run the audited re-identification step.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_vault_owner') THEN
        CREATE ROLE credsync_vault_owner NOLOGIN;  -- owns vault; nobody logs in as it
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created concurrently by another database's migration
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_reidentifier') THEN
        -- GRANT credsync_reidentifier TO <the data protection officer's login>
        CREATE ROLE credsync_reidentifier NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;

CREATE SCHEMA IF NOT EXISTS vault;

CREATE TABLE vault.pseudonyms (
    tenant_id    text NOT NULL,
    pseudonym    text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('employee_id', 'email', 'name', 'national_id', 'user_name')),
    -- nonce (12 bytes) || AES-GCM(original), associated data tenant_id + pseudonym + kind
    original     bytea NOT NULL,
    key_version  smallint NOT NULL DEFAULT 1,
    request_id   text NOT NULL,
    basis        text NOT NULL,            -- the legal basis for keeping the records
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, pseudonym)
);

-- Who re-identified what, and why (the audit chain has the same; this one sits next to the mapping).
CREATE TABLE vault.reidentifications (
    reidentification_id bigserial PRIMARY KEY,
    tenant_id    text NOT NULL,
    pseudonym    text NOT NULL,
    approver     text NOT NULL,
    reason       text NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('revealed', 'refused')),
    decided_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

ALTER SCHEMA vault OWNER TO credsync_vault_owner;
ALTER TABLE vault.pseudonyms OWNER TO credsync_vault_owner;
ALTER TABLE vault.reidentifications OWNER TO credsync_vault_owner;
REVOKE ALL ON SCHEMA vault FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA vault FROM PUBLIC;
GRANT USAGE ON SCHEMA vault TO credsync_runtime, credsync_reidentifier;
-- INSERT ... ON CONFLICT DO NOTHING (no conflict target) needs no SELECT: the pipeline adds mappings it
-- can never read back.
GRANT INSERT ON vault.pseudonyms TO credsync_runtime;
GRANT SELECT ON vault.pseudonyms TO credsync_reidentifier;
GRANT INSERT ON vault.reidentifications TO credsync_runtime, credsync_reidentifier;
GRANT USAGE ON SEQUENCE vault.reidentifications_reidentification_id_seq
    TO credsync_runtime, credsync_reidentifier;
-- A re-identification is on the tenant's audit chain: append (read the head, insert), nothing more.
GRANT USAGE ON SCHEMA audit TO credsync_reidentifier;
GRANT SELECT, INSERT ON audit.events TO credsync_reidentifier;
GRANT USAGE ON SEQUENCE audit.events_event_id_seq TO credsync_reidentifier;

-- One row per erasure request. subject is the worker's keyed pseudonym (never the original id), so a
-- repeated request or a rerun finds the finished one without the warehouse keeping who it was.
CREATE TABLE core.erasure_requests (
    tenant_id     text NOT NULL,
    request_id    text NOT NULL,
    subject       text NOT NULL,
    source        text NOT NULL,              -- hris (webhook event), manual (DAG Param / CLI)
    mode          text CHECK (mode IN ('erase', 'pseudonymise')),
    basis         text,
    status        text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'done')),
    requested_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    completed_at  timestamptz,
    runs          integer NOT NULL DEFAULT 0,
    report        jsonb,
    PRIMARY KEY (tenant_id, request_id)
);
CREATE INDEX erasure_requests_subject ON core.erasure_requests (tenant_id, subject);

-- The scrub: every occurrence of an original (a whole token, not inside a longer one) becomes its
-- replacement. originals are regular-expression patterns already escaped by the caller (Python).
CREATE FUNCTION core.erasure_scrub(p_value text, p_patterns text[], p_replacements text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    i integer;
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    FOR i IN 1 .. coalesce(cardinality(p_patterns), 0) LOOP
        p_value := regexp_replace(p_value, p_patterns[i], p_replacements[i], 'g');
    END LOOP;
    RETURN p_value;
END $$;

-- The consent ledger is append-only; erasure is the one rewrite it allows (the worker's id in it
-- becomes the pseudonym), flagged by the transaction-local setting credsync.erasure.
CREATE OR REPLACE FUNCTION core.consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('credsync.erasure', true) = 'on'
       AND (NEW.event_id, NEW.tenant_id, NEW.purpose, NEW.action, NEW.recorded_at)
           IS NOT DISTINCT FROM (OLD.event_id, OLD.tenant_id, OLD.purpose, OLD.action, OLD.recorded_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'core.consent_events is append-only: record a new grant or withdrawal instead';
END $$;

-- The HRIS's privacy tooling sends erasure requests over the same signed webhook as hires and
-- terminations (credsync.people.webhooks); the receiver records them like the others.
ALTER TABLE audit.hris_webhook_events DROP CONSTRAINT hris_webhook_events_type_check;
ALTER TABLE audit.hris_webhook_events ADD CONSTRAINT hris_webhook_events_type_check
    CHECK (type IN ('worker.hired', 'worker.terminated', 'worker.erasure_requested'));
