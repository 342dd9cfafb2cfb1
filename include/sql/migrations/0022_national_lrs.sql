-- 0022_national_lrs: the national profile (Saudi deployments) and the national LRS (NELC) ledger.

-- Saudi National ID / Iqama and the Arabic (ar-SA) legal names, carried from the HRIS for tenants
-- with a national profile (include/mappings/hris_worker_national_v1.csv). NULL elsewhere.
ALTER TABLE staging.hris_workers
    ADD COLUMN IF NOT EXISTS national_id text,
    ADD COLUMN IF NOT EXISTS given_name_ar text,
    ADD COLUMN IF NOT EXISTS family_name_ar text;
ALTER TABLE core.workers
    ADD COLUMN IF NOT EXISTS national_id text,
    ADD COLUMN IF NOT EXISTS given_name_ar text,
    ADD COLUMN IF NOT EXISTS family_name_ar text;
-- Not unique: two HRIS records claiming one id must not fail a whole merge; the national LRS side
-- keys statements by the id, so the second learner's records add nothing (docs/national.md).
CREATE INDEX IF NOT EXISTS workers_national_id
    ON core.workers (tenant_id, national_id) WHERE national_id IS NOT NULL;

-- The delivery ledger of the national LRS: one row per xAPI statement, keyed by its statement id
-- (a UUIDv5 of what it says, so a rebuild finds the same id). State moves forward only, with the
-- registry submissions' ranks (core.registry_submission_rank, 0004): pending -> sent -> dead | acknowledged.
-- A statement refused by the checklist before sending is inserted 'dead' with its rule. The statement
-- itself is not locked by the trigger: an erasure request (credsync.governance.erasure) rewrites it.
CREATE TABLE IF NOT EXISTS core.national_lrs_statements (
    tenant_id        text NOT NULL,
    statement_id     uuid NOT NULL,
    seq              bigserial,          -- the order statements were built in: a journey is sent in order
    actor_name       text NOT NULL,      -- the learner's national id, as the statement's actor.name
    verb             text NOT NULL,
    object_id        text NOT NULL,
    course_id        text NOT NULL,
    attempt_id       integer,
    progress         numeric,
    certificate_id   text,
    certificate_url  text,
    statement        jsonb NOT NULL,
    content_hash     text NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sent', 'acknowledged', 'dead')),
    refused_rule     text,
    attempts         integer NOT NULL DEFAULT 0,
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    acknowledged_at  timestamptz,
    PRIMARY KEY (tenant_id, statement_id)
);
CREATE INDEX IF NOT EXISTS national_lrs_statements_state ON core.national_lrs_statements (tenant_id, state);
CREATE INDEX IF NOT EXISTS national_lrs_statements_journey
    ON core.national_lrs_statements (tenant_id, actor_name, course_id);
CREATE INDEX IF NOT EXISTS national_lrs_statements_seq ON core.national_lrs_statements (tenant_id, seq);

CREATE OR REPLACE FUNCTION core.national_lrs_statements_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF core.registry_submission_rank(NEW.state) < core.registry_submission_rank(OLD.state) THEN
        RAISE EXCEPTION 'national LRS statement % (tenant %): state may not move from % to %',
            OLD.statement_id, OLD.tenant_id, OLD.state, NEW.state USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS national_lrs_statements_forward_only ON core.national_lrs_statements;
CREATE TRIGGER national_lrs_statements_forward_only
    BEFORE UPDATE ON core.national_lrs_statements
    FOR EACH ROW EXECUTE FUNCTION core.national_lrs_statements_forward_only();

-- The outgoing batch as the GX gate sees it (credsync.national.quality), one row per statement.
CREATE TABLE IF NOT EXISTS staging.national_lrs_batch (
    tenant_id       text NOT NULL,
    batch_id        uuid NOT NULL,
    statement_id    uuid NOT NULL,
    actor_name      text,
    verb_id         text,
    object_id       text,
    object_type     text,
    platform        text,
    language        text,
    extension_keys  text,
    staged_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_id, statement_id)
);
