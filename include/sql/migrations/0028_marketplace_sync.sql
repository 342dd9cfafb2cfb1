-- 0028_marketplace_sync: the talent marketplace sync (issue 17, seed 001; credsync.marketplace).

-- One row per initial bulk sync of a tenant: the export file (NDJSON in the object store), its
-- sha256, the gate's verdict, the import the marketplace made of it. A tenant has at most one
-- completed initial sync; a failed one is followed by a new row.
CREATE TABLE IF NOT EXISTS core.marketplace_syncs (
    tenant_id        text NOT NULL,
    sync_id          uuid NOT NULL,
    export_url       text,
    checksum_sha256  text,
    members          integer NOT NULL DEFAULT 0,
    bytes            bigint NOT NULL DEFAULT 0,
    idempotency_key  text NOT NULL,
    import_id        text,
    status           text NOT NULL DEFAULT 'exported'
                     CHECK (status IN ('exported', 'gated', 'refused', 'sent', 'completed', 'failed')),
    accepted         integer,
    rejected         integer,
    errors           jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    PRIMARY KEY (tenant_id, sync_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS marketplace_syncs_one_completed
    ON core.marketplace_syncs (tenant_id) WHERE status = 'completed';

-- What credsync holds the marketplace should have, per member: the mapped record last sent and
-- acknowledged (bulk line or PUT), keyed by the marketplace's member id. Reconciliation compares
-- the marketplace's listings with this and with the acknowledged events.
CREATE TABLE IF NOT EXISTS core.marketplace_members (
    tenant_id      text NOT NULL,
    member_id      text NOT NULL,
    employee_id    text NOT NULL,
    content_hash   text NOT NULL,
    record         jsonb NOT NULL,
    via            text NOT NULL CHECK (via IN ('bulk', 'put')),
    sync_id        uuid,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, member_id)
);
CREATE INDEX IF NOT EXISTS marketplace_members_employee ON core.marketplace_members (tenant_id, employee_id);

-- The delivery ledger of signed events (learning_completed, badge_awarded), one row per event id
-- (a UUIDv5 of tenant, type, member and item: a rebuild finds the same id). States move forward
-- only, ranked like the registry submissions (core.registry_submission_rank, 0004):
-- pending -> sent -> acknowledged | dead; the one UPDATE that moves them (credsync.marketplace.events)
-- filters on that rank. A refused event (4xx) is dead with its reason and dead-lettered.
CREATE TABLE IF NOT EXISTS core.marketplace_events (
    tenant_id        text NOT NULL,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL CHECK (event_type IN ('learning_completed', 'badge_awarded')),
    member_id        text NOT NULL,
    item_key         text NOT NULL,   -- course id / badge id
    body             jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sent', 'acknowledged', 'dead')),
    outcome          text,            -- accepted | duplicate | the refusal's problem code
    attempts         integer NOT NULL DEFAULT 0,
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    acknowledged_at  timestamptz,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS marketplace_events_item
    ON core.marketplace_events (tenant_id, event_type, member_id, item_key);
CREATE INDEX IF NOT EXISTS marketplace_events_state ON core.marketplace_events (tenant_id, state);


-- The export as the GX gate sees it (credsync.marketplace.quality), one row per NDJSON line.
CREATE TABLE IF NOT EXISTS staging.marketplace_export (
    tenant_id          text NOT NULL,
    batch_id           uuid NOT NULL,
    line_no            integer NOT NULL,
    member_id          text,
    email              text,
    min_score          numeric,
    max_score          numeric,
    enrollment_states  text,    -- the line's states joined by ','
    urls_https         boolean, -- every badge and certificate URL https
    completed_flags    boolean, -- every learning_completed item completed = true with a timestamp
    staged_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_id, line_no)
);

-- Every reconciliation: initial (right after the initial sync), followup_24h, daily. Counts per
-- kind of record, what was corrected (safe: a member the marketplace lacks or holds differently is
-- PUT again) and flagged (for review: dead-lettered), and the drift share.
CREATE TABLE IF NOT EXISTS recon.marketplace_runs (
    tenant_id         text NOT NULL,
    run_id            bigserial,
    kind              text NOT NULL CHECK (kind IN ('initial', 'followup_24h', 'daily')),
    day               date NOT NULL,
    run_at            timestamptz NOT NULL DEFAULT now(),
    expected          integer NOT NULL,
    found             integer NOT NULL,
    missing           integer NOT NULL,
    mismatched        integer NOT NULL,
    unexpected        integer NOT NULL,
    corrected         integer NOT NULL DEFAULT 0,
    flagged           integer NOT NULL DEFAULT 0,
    drift_share       numeric NOT NULL,
    detail            jsonb NOT NULL,
    PRIMARY KEY (tenant_id, run_id)
);
CREATE INDEX IF NOT EXISTS marketplace_runs_day ON recon.marketplace_runs (tenant_id, day);

-- The seed's acceptance, per tenant and day: drift (the day's last reconciliation) and event
-- delivery success (events created that day: acknowledged / all). The gate reads 7 days of it.
CREATE TABLE IF NOT EXISTS recon.marketplace_daily (
    tenant_id            text NOT NULL,
    day                  date NOT NULL,
    drift_share          numeric NOT NULL,
    events_total         integer NOT NULL,
    events_acknowledged  integer NOT NULL,
    events_dead          integer NOT NULL,
    delivery_success     numeric NOT NULL,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day)
);

-- For analysts and the dashboards: the 7-day window ending on each recorded day.
CREATE OR REPLACE VIEW recon.marketplace_window AS
SELECT d.tenant_id, d.day,
       count(w.day) AS days,
       max(w.drift_share) AS max_drift_share,
       CASE WHEN sum(w.events_total) = 0 THEN 1
            ELSE sum(w.events_acknowledged)::numeric / sum(w.events_total) END AS delivery_success
FROM recon.marketplace_daily d
JOIN recon.marketplace_daily w ON w.tenant_id = d.tenant_id AND w.day > d.day - 7 AND w.day <= d.day
GROUP BY d.tenant_id, d.day;

-- For the product owners: the open marketplace dead letters per tenant and reason (refused records and
-- reconciliation flags), with how many and up to five examples each (entity keys, never payloads).
CREATE OR REPLACE VIEW recon.marketplace_review AS
SELECT tenant_id, reason, count(*) AS open_letters, min(created_at) AS oldest,
       (array_agg(entity_key ORDER BY created_at, dead_letter_id))[1:5] AS examples
FROM audit.dead_letters
WHERE source = 'marketplace' AND status = 'open'
GROUP BY tenant_id, reason;

-- The marketplace's signed member webhooks the receiver accepted (credsync.marketplace.webhooks); the
-- primary key is the replay guard. The next marketplace_sync events task applies each one once
-- (applied_at, outcome): an update of a field the mapping owns is flagged for review, never written
-- into HR data; a deletion is recorded in core.marketplace_deleted_members.
CREATE TABLE IF NOT EXISTS core.marketplace_webhook_events (
    tenant_id    text NOT NULL,
    event_id     text NOT NULL,            -- the marketplace's event id
    event_type   text NOT NULL CHECK (event_type IN ('member.updated', 'member.deleted')),
    member_id    text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    body         jsonb NOT NULL,           -- exactly as verified (no signature, no secret)
    deliveries   integer NOT NULL DEFAULT 1,
    received_at  timestamptz NOT NULL DEFAULT now(),
    applied_at   timestamptz,
    outcome      text,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX IF NOT EXISTS marketplace_webhook_events_unapplied
    ON core.marketplace_webhook_events (tenant_id, received_at) WHERE applied_at IS NULL;

-- Members the marketplace deleted: no PUT and no event goes to them any more (new ones are dead-lettered).
CREATE TABLE IF NOT EXISTS core.marketplace_deleted_members (
    tenant_id    text NOT NULL,
    member_id    text NOT NULL,
    event_id     text NOT NULL,            -- the member.deleted webhook that said so
    deleted_at   timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, member_id)
);

-- Career-path eligibility sent to the marketplace (credsync.marketplace.eligibility), one row per
-- granted case of core.career_eligibility (0029; a delta reader of its updated_at). content_hash is
-- the body's: a changed grant (review_state) goes pending again under a new idempotency key.
-- pending -> sent -> acknowledged | dead (a refusal, dead-lettered); 'sent' is resent under the same
-- key until the marketplace answers (a lost answer's resend is replayed, never applied twice).
CREATE TABLE IF NOT EXISTS core.marketplace_eligibility (
    tenant_id          text NOT NULL,
    case_id            uuid NOT NULL,
    employee_id        text NOT NULL,
    eligible_for       text NOT NULL,
    member_id          text,             -- the marketplace member addressed (pseudonymised like the member sync)
    body               jsonb NOT NULL,   -- {eligible_for, rule_id, rule_version, granted_at, review_state}
    content_hash       text NOT NULL,
    idempotency_key    text NOT NULL,
    source_updated_at  timestamptz NOT NULL,
    state              text NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'sent', 'acknowledged', 'dead')),
    outcome            text,             -- created | replaced | the refusal's problem code
    attempts           integer NOT NULL DEFAULT 0,
    last_status        integer,
    last_error         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    sent_at            timestamptz,
    acknowledged_at    timestamptz,
    PRIMARY KEY (tenant_id, case_id)
);
CREATE INDEX IF NOT EXISTS marketplace_eligibility_state ON core.marketplace_eligibility (tenant_id, state);
