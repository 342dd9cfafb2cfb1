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
