-- People: HRIS workers (with change history) and their LMS learner accounts.

-- Raw HRIS records as extracted, one row per record per batch.
CREATE TABLE staging.hris_workers (
    batch_id          uuid NOT NULL,
    tenant_id         text NOT NULL,
    row_number        integer NOT NULL,
    employee_id       text,
    source_system     text,
    given_name        text,
    family_name       text,
    preferred_name    text,
    work_email        text,
    email_normalized  text,
    employment_status text,
    employment_type   text,
    hire_date         date,
    termination_date  date,
    rehire_date       date,
    department        text,
    job_title         text,
    manager_id        text,
    location          text,
    source_updated_at timestamptz,
    mapping_version   text NOT NULL,
    PRIMARY KEY (batch_id, row_number)
);

-- The HRIS truth per tenant. employee_id is the key; email is an attribute.
CREATE TABLE core.workers (
    tenant_id         text NOT NULL,
    employee_id       text NOT NULL,
    source_system     text NOT NULL,
    given_name        text NOT NULL,
    family_name       text NOT NULL,
    preferred_name    text,
    work_email        text,
    email_normalized  text,
    employment_status text NOT NULL CHECK (employment_status IN ('active', 'leave', 'terminated')),
    employment_type   text NOT NULL,
    hire_date         date,
    termination_date  date,
    rehire_date       date,
    department        text,
    job_title         text,
    manager_id        text,
    location          text,
    source_updated_at timestamptz NOT NULL,
    mapping_version   text NOT NULL,
    last_batch_id     uuid NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, employee_id)
);
CREATE INDEX workers_email ON core.workers (tenant_id, email_normalized);

-- Who changed what, when, from which batch.
CREATE TABLE core.worker_changes (
    change_id     bigserial PRIMARY KEY,
    tenant_id     text NOT NULL,
    employee_id   text NOT NULL,
    batch_id      uuid NOT NULL,
    change_kind   text NOT NULL,  -- insert | update
    changed_fields jsonb NOT NULL, -- {"field": {"old": .., "new": ..}}
    changed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_changes_worker ON core.worker_changes (tenant_id, employee_id);

-- One LMS account per worker: the SCIM id the LMS gave it and what we last sent.
CREATE TABLE core.learners (
    tenant_id      text NOT NULL,
    employee_id    text NOT NULL,
    scim_id        text NOT NULL,
    user_name      text NOT NULL,
    active         boolean NOT NULL,
    synced_hash    text NOT NULL,   -- hash of the attributes last written to the LMS
    etag           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, employee_id),
    UNIQUE (tenant_id, scim_id)
);

-- Every SCIM action with its outcome, for reconciliation and audit.
CREATE TABLE core.scim_actions (
    action_id    bigserial PRIMARY KEY,
    tenant_id    text NOT NULL,
    employee_id  text NOT NULL,
    scim_id      text,
    action       text NOT NULL, -- create | update | deactivate | reactivate | adopt
    outcome      text NOT NULL, -- ok | failed
    http_status  integer,
    detail       text,
    dag_run_id   text,
    acted_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scim_actions_worker ON core.scim_actions (tenant_id, employee_id);

-- Verified HRIS webhook events (hire/terminate); event_id makes replays harmless.
CREATE TABLE staging.hris_events (
    tenant_id    text NOT NULL,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    employee_id  text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    PRIMARY KEY (tenant_id, event_id)
);
