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
    success         boolean,                -- result.success / success_status, when the source says
    score           numeric,                -- normalised 0..100
    completed_at    timestamptz,
    stored_at       timestamptz,
    registration    text,                   -- xAPI context.registration (attempt), if any
    raw             jsonb NOT NULL,
    mapping_version text NOT NULL,
    quarantine_rule   text,                 -- set: the row is rejected (copied to audit.quarantine)
    quarantine_reason text,
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
    voided_by     text,                    -- the voiding statement id
    registration  text,
    stored_at     timestamptz,
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
    rule_id             text,
    evidence_key        text,                -- sorted evidence source ids joined by ','; one issue per evidence
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credentials_evidence ON core.credentials (tenant_id, employee_id, credential_type, evidence_key);
-- At most one active credential per person and type.
CREATE UNIQUE INDEX credentials_one_active
    ON core.credentials (tenant_id, employee_id, credential_type) WHERE status = 'active';
CREATE INDEX credentials_expiry ON core.credentials (tenant_id, expiry_date) WHERE status = 'active';

-- Statements that void others, kept even when the target has not arrived yet so a
-- later pull of the target is voided on merge (xAPI allows either order).
CREATE TABLE core.voided_statements (
    tenant_id        text NOT NULL,
    source           text NOT NULL,
    voided_source_id text NOT NULL,
    voided_by        text NOT NULL,
    voided_at        timestamptz NOT NULL,
    batch_id         uuid NOT NULL,
    PRIMARY KEY (tenant_id, source, voided_source_id)
);

-- Every issuance decision with the rule version and evidence that produced it, so a
-- decision can be reproduced later. One row per (person, type, decision, evidence):
-- reruns over the same evidence add nothing.
CREATE TABLE core.credential_decisions (
    decision_id     bigserial PRIMARY KEY,
    tenant_id       text NOT NULL,
    employee_id     text NOT NULL,
    credential_type text NOT NULL,
    decision        text NOT NULL CHECK (decision IN (
                        'issued', 'renewed', 'revoked_evidence_voided',
                        'skipped_expired', 'skipped_terminated', 'skipped_requires_credential')),
    rule_id         text NOT NULL,
    rule_version    text NOT NULL,
    evidence_key    text NOT NULL,
    evidence        jsonb NOT NULL,
    credential_id   uuid REFERENCES core.credentials (credential_id),
    run_id          text,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, employee_id, credential_type, decision, evidence_key)
);
