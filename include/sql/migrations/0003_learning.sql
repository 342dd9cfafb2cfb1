-- Learning: LMS/LRS completions and the credentials issued from them.

CREATE TABLE staging.completions (
    batch_id        uuid NOT NULL,
    tenant_id       text NOT NULL,
    row_number      integer NOT NULL,
    source          text NOT NULL,          -- xapi | lms_rest
    source_id       text,                   -- xAPI statement id or LMS enrollment id
    actor_key       text,                   -- how the source named the person
    employee_id     text,                   -- resolved, or null
    course_code     text,
    verb            text,                   -- completed | passed | failed | mastered | voided
    voids_source_id text,
    score           numeric,                -- normalised 0..100
    completed_at    timestamptz,
    stored_at       timestamptz,
    raw             jsonb NOT NULL,
    mapping_version text NOT NULL,
    PRIMARY KEY (batch_id, row_number)
);

CREATE TABLE core.completions (
    tenant_id     text NOT NULL,
    source        text NOT NULL,
    source_id     text NOT NULL,
    employee_id   text NOT NULL,
    course_code   text NOT NULL,
    verb          text NOT NULL,
    success       boolean NOT NULL,
    score         numeric,
    completed_at  timestamptz NOT NULL,
    voided        boolean NOT NULL DEFAULT false,
    voided_at     timestamptz,
    batch_id      uuid NOT NULL,
    mapping_version text NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, source, source_id)
);
CREATE INDEX completions_worker ON core.completions (tenant_id, employee_id, course_code);

-- Completions whose person is not (yet) in core.workers: held, retried each run.
CREATE TABLE core.held_completions (
    tenant_id   text NOT NULL,
    source      text NOT NULL,
    source_id   text NOT NULL,
    actor_key   text NOT NULL,
    reason      text NOT NULL,
    record      jsonb NOT NULL,
    held_at     timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 1,
    released_at timestamptz,
    PRIMARY KEY (tenant_id, source, source_id)
);

-- Credentials are never deleted: status moves active -> expired | revoked.
CREATE TABLE core.credentials (
    credential_id       uuid PRIMARY KEY,
    tenant_id           text NOT NULL,
    employee_id         text NOT NULL,
    credential_type     text NOT NULL,
    issuer              text NOT NULL,
    rule_version        text NOT NULL,
    issue_date          date NOT NULL,
    expiry_date         date,
    status              text NOT NULL CHECK (status IN ('active', 'expired', 'revoked')),
    status_reason       text,
    status_changed_at   timestamptz NOT NULL DEFAULT now(),
    evidence_url        text,
    evidence            jsonb NOT NULL,      -- statement ids, score, timestamp
    renewal_rule        text,
    pay_impact          boolean NOT NULL DEFAULT false,
    previous_credential_id uuid REFERENCES core.credentials (credential_id),
    version             integer NOT NULL DEFAULT 1,
    vc_jwt              text,                -- the signed Verifiable Credential
    created_at          timestamptz NOT NULL DEFAULT now()
);
-- At most one active credential per person and type.
CREATE UNIQUE INDEX credentials_one_active
    ON core.credentials (tenant_id, employee_id, credential_type) WHERE status = 'active';
CREATE INDEX credentials_expiry ON core.credentials (tenant_id, expiry_date) WHERE status = 'active';
