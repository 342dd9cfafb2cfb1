-- Delivery: registry submissions and HRIS/payroll write-backs.

-- One row per credential version to deliver; state only moves forward:
-- pending -> sent -> acknowledged | dead.
CREATE TABLE core.registry_submissions (
    tenant_id        text NOT NULL,
    credential_id    uuid NOT NULL REFERENCES core.credentials (credential_id),
    version          integer NOT NULL,
    operation        text NOT NULL DEFAULT 'issue' CHECK (operation IN ('issue', 'revoke')),
    idempotency_key  text NOT NULL UNIQUE,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sent', 'acknowledged', 'dead')),
    registry_id      text,
    attempts         integer NOT NULL DEFAULT 0,
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    acknowledged_at  timestamptz,
    PRIMARY KEY (credential_id, version, operation)
);
CREATE INDEX registry_submissions_state ON core.registry_submissions (tenant_id, state);

CREATE TABLE core.registry_attempts (
    attempt_id      bigserial PRIMARY KEY,
    tenant_id       text NOT NULL,
    credential_id   uuid NOT NULL,
    idempotency_key text NOT NULL,
    request_id      text,
    http_status     integer,
    latency_ms      integer,
    outcome         text NOT NULL,
    attempted_at    timestamptz NOT NULL DEFAULT now()
);

-- What credsync last told the HRIS (profile) and payroll (flags) per worker and type.
CREATE TABLE core.writebacks (
    tenant_id       text NOT NULL,
    employee_id     text NOT NULL,
    target          text NOT NULL CHECK (target IN ('hris_profile', 'payroll_flag')),
    credential_type text NOT NULL,
    credential_id   uuid,
    status          text NOT NULL,
    summary         text,
    effective_from  date,
    effective_to    date,
    payload_hash    text NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    delivered_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, employee_id, target, credential_type)
);

CREATE TABLE core.expiry_reminders (
    tenant_id     text NOT NULL,
    credential_id uuid NOT NULL REFERENCES core.credentials (credential_id),
    days_before   integer NOT NULL,
    remind_on     date NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (credential_id, days_before)
);

-- Which operation an attempt belonged to, so issue and revoke latencies can be told apart.
ALTER TABLE core.registry_attempts ADD COLUMN IF NOT EXISTS operation text;
CREATE INDEX IF NOT EXISTS registry_attempts_key ON core.registry_attempts (tenant_id, idempotency_key);

-- The state machine only moves forward: pending(0) -> sent(1) -> dead(2) -> acknowledged(3).
-- sent -> sent is a re-send under the same idempotency key; dead -> acknowledged is a
-- successful dead-letter replay. Anything backwards is a bug and is refused here, in SQL,
-- so no code path (or hand-run UPDATE) can undo an acknowledgement.
CREATE OR REPLACE FUNCTION core.registry_submission_rank(state text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE state WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'dead' THEN 2
                      WHEN 'acknowledged' THEN 3 END
$$;

CREATE OR REPLACE FUNCTION core.registry_submissions_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF core.registry_submission_rank(NEW.state) < core.registry_submission_rank(OLD.state) THEN
        RAISE EXCEPTION 'registry submission % (%): state may not move from % to %',
            OLD.idempotency_key, OLD.operation, OLD.state, NEW.state
            USING ERRCODE = 'check_violation';
    END IF;
    -- The one exception: the registry lost the certificate and it was registered again
    -- (dead-letter replay of a reconciliation finding sets credsync.registry_restore locally).
    IF OLD.state = 'acknowledged' AND NEW.registry_id IS DISTINCT FROM OLD.registry_id
       AND current_setting('credsync.registry_restore', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'registry submission %: registry_id of an acknowledged submission is final',
            OLD.idempotency_key USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS registry_submissions_forward_only ON core.registry_submissions;
CREATE TRIGGER registry_submissions_forward_only
    BEFORE UPDATE ON core.registry_submissions
    FOR EACH ROW EXECUTE FUNCTION core.registry_submissions_forward_only();

-- The audit log is append-only: editing or deleting needs a superuser bypassing triggers,
-- and even then `python -m credsync.audit verify` finds the broken row.
CREATE OR REPLACE FUNCTION audit.events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.events is append-only (% of event %)', TG_OP, OLD.event_id
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DROP TRIGGER IF EXISTS events_append_only ON audit.events;
CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.events_append_only();

-- The chain head of a tenant is read on every append.
CREATE INDEX IF NOT EXISTS events_tenant_chain ON audit.events (tenant_id, event_id);
CREATE INDEX IF NOT EXISTS dead_letters_open ON audit.dead_letters (tenant_id, source, status);
