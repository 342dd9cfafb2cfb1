-- Reconciliation: snapshots of the outside systems, runs, findings, alerts,
-- analyst views and the row-level security that scopes analysts to their tenants.

-- ---------------------------------------------------------------------------
-- Staging snapshots: each reconciliation run loads the outside systems' listings
-- here (COPY), tagged with snapshot_id; only the latest snapshot per tenant and
-- source is kept (older ones are deleted when a new one is registered).
-- ---------------------------------------------------------------------------
CREATE TABLE staging.recon_snapshots (
    snapshot_id uuid PRIMARY KEY,
    tenant_id   text NOT NULL,
    source      text NOT NULL CHECK (source IN ('lms_learners', 'registry', 'hris_writeback', 'credential_rules')),
    row_count   integer,
    loaded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recon_snapshots_tenant ON staging.recon_snapshots (tenant_id, source, loaded_at);

-- LMS users as the SCIM service lists them (GET /{tenant}/v2/Users).
CREATE TABLE staging.lms_learners_snapshot (
    snapshot_id      uuid NOT NULL,
    tenant_id        text NOT NULL,
    scim_id          text NOT NULL,
    external_id      text,          -- the HRIS employee_id we provisioned
    user_name        text,
    active           boolean NOT NULL,
    email            text,
    email_normalized text,
    department       text,
    manager_value    text,          -- enterprise extension manager.value (scim id or employee id)
    PRIMARY KEY (snapshot_id, scim_id)
);
CREATE INDEX lms_learners_snapshot_ext ON staging.lms_learners_snapshot (snapshot_id, external_id);

-- Certificates as the registry lists them (GET /v1/certificates?tenant_id=).
CREATE TABLE staging.registry_snapshot (
    snapshot_id        uuid NOT NULL,
    tenant_id          text NOT NULL,
    registry_id        text NOT NULL,
    learner_id         text NOT NULL,
    credential_type    text NOT NULL,
    credential_version text NOT NULL,
    status             text NOT NULL,   -- active | revoked
    issued_on          date,
    expires_on         date,
    updated_at         timestamptz,
    PRIMARY KEY (snapshot_id, registry_id)
);

-- HRIS profile certifications and payroll flags as the HRIS lists them.
-- For payroll flags, credential_type holds the flag name (flag = credential type).
CREATE TABLE staging.hris_writeback_snapshot (
    snapshot_id     uuid NOT NULL,
    tenant_id       text NOT NULL,
    target          text NOT NULL CHECK (target IN ('hris_profile', 'payroll_flag')),
    employee_id     text NOT NULL,
    credential_type text NOT NULL,
    status          text,           -- certification status (profile)
    active          boolean,        -- flag state (payroll); status = 'active' for profiles
    valid_from      date,
    valid_until     date,
    credential_id   text,
    updated_at      timestamptz,
    PRIMARY KEY (snapshot_id, target, employee_id, credential_type)
);

-- The credential rules a run compared against, one row per (rule, course), as
-- read from include/mappings/credential_rules.csv at run time. Reconciliation
-- evaluates them with the issuance plan (include/sql/credentials/plan.sql), so
-- "eligible" means exactly what issuance means by it.
CREATE TABLE staging.credential_rules_snapshot (
    snapshot_id         uuid NOT NULL,
    tenant_id           text NOT NULL,
    course_code         text NOT NULL,
    credential_type     text NOT NULL,
    min_score           numeric,
    rule_id             text NOT NULL,
    course_codes        text NOT NULL,   -- the rule's whole course set, '+'-joined
    validity_days       integer NOT NULL,
    renewal_window_days integer NOT NULL,
    requires_credential text,
    rule_version        text NOT NULL,
    PRIMARY KEY (snapshot_id, rule_id, course_code)
);

-- ---------------------------------------------------------------------------
-- Runs and metrics
-- ---------------------------------------------------------------------------
CREATE TABLE recon.runs (
    run_id                    uuid PRIMARY KEY,
    tenant_id                 text NOT NULL,
    dag_run_id                text,
    as_of                     timestamptz NOT NULL,
    status                    text NOT NULL DEFAULT 'running'
                              CHECK (status IN ('running', 'compared', 'passed', 'failed')),
    started_at                timestamptz NOT NULL DEFAULT now(),
    finished_at               timestamptz,
    findings_open             integer,
    findings_new              integer,
    findings_resolved         integer,
    findings_auto_fixed       integer,
    registry_success_rate     numeric,   -- acknowledged / (acknowledged + dead) in the window
    writeback_success_rate    numeric,   -- delivered / (delivered + dead) in the window
    registry_latency_p50_s    numeric,   -- completion -> registry acknowledgement
    registry_latency_p95_s    numeric,
    writeback_latency_p50_s   numeric,   -- completion -> HRIS profile write-back
    writeback_latency_p95_s   numeric,
    max_drift_rate            numeric,
    gate_success              boolean,
    gate_summary              text
);
CREATE INDEX runs_tenant_time ON recon.runs (tenant_id, as_of);

CREATE TABLE recon.run_comparisons (
    run_id      uuid NOT NULL REFERENCES recon.runs (run_id) ON DELETE CASCADE,
    tenant_id   text NOT NULL,
    comparison  text NOT NULL,
    population  bigint NOT NULL,     -- entities compared
    drifted     bigint NOT NULL,     -- distinct entities with at least one finding
    drift_rate  numeric NOT NULL,    -- drifted / population (0 when population = 0)
    PRIMARY KEY (run_id, comparison)
);

-- ---------------------------------------------------------------------------
-- Findings: one row per (tenant, type, entity) while open; last_seen moves on
-- each run that sees it again; resolved_at closes it. A later recurrence opens
-- a new row, so history is kept.
-- ---------------------------------------------------------------------------
CREATE TABLE recon.findings (
    finding_id      bigserial PRIMARY KEY,
    tenant_id       text NOT NULL,
    comparison      text NOT NULL,
    finding_type    text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    entity_key      text NOT NULL,
    employee_id     text,
    credential_id   uuid,
    left_system     text NOT NULL,
    left_value      text,
    right_system    text NOT NULL,
    right_value     text,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    resolved_at     timestamptz,
    first_run_id    uuid NOT NULL,
    last_run_id     uuid NOT NULL,
    resolved_run_id uuid,
    times_seen      integer NOT NULL DEFAULT 1,
    action          text NOT NULL CHECK (action IN ('auto_fixed', 'queued_fix', 'flagged')),
    action_detail   text,
    owner           text NOT NULL
);
CREATE UNIQUE INDEX findings_one_open
    ON recon.findings (tenant_id, finding_type, entity_key) WHERE resolved_at IS NULL;
CREATE INDEX findings_tenant_time ON recon.findings (tenant_id, first_seen);

-- A failed quality gate on a run (also logged by the task's on_failure_callback).
CREATE TABLE recon.alerts (
    alert_id    bigserial PRIMARY KEY,
    tenant_id   text NOT NULL,
    run_id      uuid,
    dag_id      text,
    task_id     text,
    dag_run_id  text,
    message     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Which tenants a database role (a login role or a group it belongs to) may read.
CREATE TABLE recon.analyst_tenants (
    role_name text NOT NULL,
    tenant_id text NOT NULL,
    PRIMARY KEY (role_name, tenant_id)
);

-- ---------------------------------------------------------------------------
-- Re-queue functions: how reconciliation hands a safe fix back to the flows
-- that own delivery. They never call outside systems; the owning DAG does, on
-- its next run, through its own idempotent path.
-- ---------------------------------------------------------------------------

-- Re-queue a registry write (operation 'issue' or 'revoke') for a credential.
-- Creates the submission when there is none (idempotency key as
-- include/sql/delivery/enqueue_*.sql computes it) and returns its key; returns
-- the key unchanged while one is in flight (pending/sent). Returns NULL for an
-- acknowledged or dead submission: core.registry_submissions only moves forward
-- (0004 trigger), so such a re-push is dead-lettered by the caller for replay.
CREATE OR REPLACE FUNCTION recon.requeue_registry_submission(
    p_tenant_id text, p_credential_id uuid, p_operation text, p_reason text
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_version integer;
    v_state   text;
    v_key     text;
BEGIN
    SELECT version INTO v_version FROM core.credentials
    WHERE credential_id = p_credential_id AND tenant_id = p_tenant_id;
    IF v_version IS NULL THEN
        RAISE EXCEPTION 'requeue_registry_submission: credential % not found for tenant %',
            p_credential_id, p_tenant_id;
    END IF;
    SELECT state, idempotency_key INTO v_state, v_key FROM core.registry_submissions
    WHERE credential_id = p_credential_id AND version = v_version AND operation = p_operation;
    IF v_state IS NULL THEN
        v_key := 'cs-' || p_credential_id || '-v' || v_version || '-' || p_operation;
        INSERT INTO core.registry_submissions
            (tenant_id, credential_id, version, operation, idempotency_key, state, last_error)
        VALUES (p_tenant_id, p_credential_id, v_version, p_operation, v_key, 'pending', p_reason);
        RETURN v_key;
    ELSIF v_state IN ('pending', 'sent') THEN
        RETURN v_key;
    END IF;
    RETURN NULL;
END $$;

-- Mark a learner for re-provisioning: SCIM provisioning re-sends a learner whose
-- synced_hash differs from the hash of its current worker attributes, and no
-- real hash equals this sentinel.
CREATE OR REPLACE FUNCTION recon.requeue_learner(p_tenant_id text, p_employee_id text)
RETURNS boolean LANGUAGE sql AS $$
    UPDATE core.learners SET synced_hash = 'recon:resync', updated_at = now()
    WHERE tenant_id = p_tenant_id AND employee_id = p_employee_id
    RETURNING true;
$$;

-- Put a write-back (HRIS profile or payroll flag) back to 'pending' with a
-- cleared payload hash, so the write-back DAG recomputes and re-sends it.
CREATE OR REPLACE FUNCTION recon.requeue_writeback(
    p_tenant_id text, p_employee_id text, p_target text, p_credential_type text
) RETURNS boolean LANGUAGE sql AS $$
    UPDATE core.writebacks SET state = 'pending', payload_hash = '', attempts = 0, updated_at = now()
    WHERE tenant_id = p_tenant_id AND employee_id = p_employee_id
      AND target = p_target AND credential_type = p_credential_type
    RETURNING true;
$$;

-- ---------------------------------------------------------------------------
-- Analyst surface: views over the recon tables, read through row-level security.
-- ---------------------------------------------------------------------------

-- Tenants role p_role may read: mapped to it or to any role it belongs to.
-- SECURITY DEFINER so analysts need no access to the mapping table; the policies
-- pass current_user, which inside a definer function would be the owner.
CREATE OR REPLACE FUNCTION recon.visible_tenants(p_role name) RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, recon AS $$
    SELECT DISTINCT a.tenant_id
    FROM recon.analyst_tenants a
    JOIN pg_roles r ON r.rolname = a.role_name
    WHERE pg_has_role(p_role, r.oid, 'MEMBER');
$$;
REVOKE ALL ON FUNCTION recon.visible_tenants(name) FROM PUBLIC;

CREATE VIEW recon.v_open_findings WITH (security_invoker = true, security_barrier = true) AS
SELECT f.tenant_id, f.finding_id, f.comparison, f.finding_type, f.severity, f.entity_key,
       f.employee_id, f.credential_id, f.left_system, f.left_value, f.right_system, f.right_value,
       f.first_seen, f.last_seen, f.times_seen, f.action, f.action_detail, f.owner,
       now() - f.first_seen AS age
FROM recon.findings f
WHERE f.resolved_at IS NULL;

-- Per tenant, day and comparison: the last run of the day's drift, and the findings
-- opened and resolved that day.
CREATE VIEW recon.v_drift_daily WITH (security_invoker = true, security_barrier = true) AS
WITH last_run AS (
    SELECT DISTINCT ON (r.tenant_id, (r.as_of AT TIME ZONE 'UTC')::date)
           r.tenant_id, (r.as_of AT TIME ZONE 'UTC')::date AS day, r.run_id
    FROM recon.runs r
    WHERE r.status IN ('compared', 'passed', 'failed')
    ORDER BY r.tenant_id, (r.as_of AT TIME ZONE 'UTC')::date, r.as_of DESC
)
SELECT l.tenant_id, l.day, c.comparison, c.population, c.drifted, c.drift_rate,
       (SELECT count(*) FROM recon.findings f
         WHERE f.tenant_id = l.tenant_id AND f.comparison = c.comparison
           AND (f.first_seen AT TIME ZONE 'UTC')::date = l.day) AS findings_opened,
       (SELECT count(*) FROM recon.findings f
         WHERE f.tenant_id = l.tenant_id AND f.comparison = c.comparison
           AND (f.resolved_at AT TIME ZONE 'UTC')::date = l.day) AS findings_resolved
FROM last_run l
JOIN recon.run_comparisons c ON c.run_id = l.run_id;

-- Per tenant and day: delivery success and completion-to-delivery latency of the
-- last run of the day.
CREATE VIEW recon.v_latency_daily WITH (security_invoker = true, security_barrier = true) AS
SELECT DISTINCT ON (r.tenant_id, (r.as_of AT TIME ZONE 'UTC')::date)
       r.tenant_id, (r.as_of AT TIME ZONE 'UTC')::date AS day, r.run_id,
       r.registry_success_rate, r.writeback_success_rate,
       r.registry_latency_p50_s, r.registry_latency_p95_s,
       r.writeback_latency_p50_s, r.writeback_latency_p95_s
FROM recon.runs r
WHERE r.status IN ('compared', 'passed', 'failed')
ORDER BY r.tenant_id, (r.as_of AT TIME ZONE 'UTC')::date, r.as_of DESC;

-- Row-level security: the pipeline (table owner) is unaffected; any other role
-- sees only the tenants recon.visible_tenants(current_user) gives it.
ALTER TABLE recon.findings ENABLE ROW LEVEL SECURITY;
ALTER TABLE recon.runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE recon.run_comparisons ENABLE ROW LEVEL SECURITY;
ALTER TABLE recon.alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY findings_by_tenant ON recon.findings FOR SELECT
    USING (tenant_id IN (SELECT recon.visible_tenants(current_user)));
CREATE POLICY runs_by_tenant ON recon.runs FOR SELECT
    USING (tenant_id IN (SELECT recon.visible_tenants(current_user)));
CREATE POLICY run_comparisons_by_tenant ON recon.run_comparisons FOR SELECT
    USING (tenant_id IN (SELECT recon.visible_tenants(current_user)));
CREATE POLICY alerts_by_tenant ON recon.alerts FOR SELECT
    USING (tenant_id IN (SELECT recon.visible_tenants(current_user)));

-- The read-only analyst group role (roles are cluster-wide: create once).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_analyst') THEN
        CREATE ROLE credsync_analyst NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created concurrently by another database's migration
END $$;

GRANT USAGE ON SCHEMA recon TO credsync_analyst;
GRANT SELECT ON recon.findings, recon.runs, recon.run_comparisons, recon.alerts,
    recon.v_open_findings, recon.v_drift_daily, recon.v_latency_daily TO credsync_analyst;
GRANT EXECUTE ON FUNCTION recon.visible_tenants(name) TO credsync_analyst;

-- What the quality gate validates for one run (credsync.recon.gate through
-- credsync.quality.run_gate, which partitions on tenant_id and batch_id):
-- one row per comparison, with the run's delivery success rates alongside.
CREATE VIEW recon.v_run_gate AS
SELECT c.tenant_id, c.run_id AS batch_id, c.comparison, c.population, c.drift_rate,
       r.registry_success_rate, r.writeback_success_rate
FROM recon.run_comparisons c
JOIN recon.runs r ON r.run_id = c.run_id;
