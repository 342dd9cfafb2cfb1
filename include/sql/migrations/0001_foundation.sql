-- Foundation: schemas, tenants, watermarks, hash-chained audit log, dead letters.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS recon;
CREATE SCHEMA IF NOT EXISTS audit;

-- Mirrors include/tenants.yaml so that SQL (views, row-level security) can join on it.
CREATE TABLE core.tenants (
    tenant_id    text PRIMARY KEY,
    display_name text NOT NULL,
    region       text NOT NULL,
    enabled      boolean NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per (tenant, source, stream): the position a pull resumes from.
-- Advanced only after the load it covers has committed.
CREATE TABLE audit.sync_state (
    tenant_id   text NOT NULL,
    source      text NOT NULL,
    stream      text NOT NULL,
    watermark   text,
    cursor      text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    last_batch_id uuid,
    PRIMARY KEY (tenant_id, source, stream)
);

-- Every load into staging gets one batch row; counts must reconcile:
-- records_in = records_loaded + records_quarantined + records_dead.
CREATE TABLE audit.batches (
    batch_id            uuid PRIMARY KEY,
    tenant_id           text NOT NULL,
    source              text NOT NULL,
    stream              text NOT NULL,
    status              text NOT NULL DEFAULT 'staged'
                        CHECK (status IN ('staged', 'validated', 'rejected', 'merged', 'failed')),
    records_in          integer NOT NULL DEFAULT 0,
    records_loaded      integer NOT NULL DEFAULT 0,
    records_quarantined integer NOT NULL DEFAULT 0,
    records_dead        integer NOT NULL DEFAULT 0,
    mapping_version     text,
    validation          jsonb,
    data_docs_url       text,
    dag_run_id          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz
);
CREATE INDEX batches_tenant_stream ON audit.batches (tenant_id, source, stream, created_at);

-- Row-level rejects with the rule that rejected them; raw record kept for replay.
CREATE TABLE audit.quarantine (
    quarantine_id bigserial PRIMARY KEY,
    batch_id      uuid NOT NULL REFERENCES audit.batches (batch_id),
    tenant_id     text NOT NULL,
    record_key    text,
    rule          text NOT NULL,
    reason        text NOT NULL,
    record        jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_batch ON audit.quarantine (batch_id);

-- Failures that need a human; replayable through the same idempotent path.
CREATE TABLE audit.dead_letters (
    dead_letter_id bigserial PRIMARY KEY,
    tenant_id      text NOT NULL,
    source         text NOT NULL,
    entity_key     text NOT NULL,
    reason         text NOT NULL,
    detail         jsonb,
    payload        jsonb,
    status         text NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'replayed', 'discarded')),
    attempts       integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    replay_outcome text,
    UNIQUE (tenant_id, source, entity_key, reason)
);

-- Append-only event log; row_hash = sha256(prev_hash || canonical event), so an
-- edited or deleted row breaks every hash after it.
CREATE TABLE audit.events (
    event_id    bigserial PRIMARY KEY,
    tenant_id   text NOT NULL,
    event_type  text NOT NULL,
    entity_type text NOT NULL,
    entity_key  text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    prev_hash   text NOT NULL,
    row_hash    text NOT NULL UNIQUE
);
CREATE INDEX events_entity ON audit.events (tenant_id, entity_type, entity_key);
