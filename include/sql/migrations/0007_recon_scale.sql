-- Statistics on the "settled at" expressions reconciliation's delivery metrics filter
-- by (include/sql/recon/delivery_metrics.sql). Without them the planner guesses a
-- time window holds a fraction of a percent of the rows and joins each submission to
-- its credential by index probe; on a large tenant whose deliveries all fall in the
-- window that is millions of probes instead of one hash join.
CREATE STATISTICS core.registry_submissions_settled
    ON (coalesce(acknowledged_at, sent_at, created_at)) FROM core.registry_submissions;
CREATE STATISTICS core.writebacks_settled
    ON (coalesce(delivered_at, updated_at)) FROM core.writebacks;
ANALYZE core.registry_submissions, core.writebacks;

-- The write-backs still in flight; reconciliation skips their credentials, and delivery
-- picks them up. A handful of rows on a tenant with millions of write-backs.
CREATE INDEX writebacks_pending ON core.writebacks (tenant_id) WHERE state = 'pending';

-- What each comparison group of a reconciliation run observed, handed from the
-- group's own connection (the groups run side by side) to the run's transaction,
-- which moves it into recon.findings and deletes it. Scratch: unlogged, and a
-- crash only costs the run being retried.
CREATE UNLOGGED TABLE staging.recon_observed (
    run_id        uuid NOT NULL,
    tenant_id     text NOT NULL,
    grp           text NOT NULL,  -- the comparison group that observed it
    comparison    text NOT NULL,
    finding_type  text NOT NULL,
    entity_key    text NOT NULL,
    subject       text NOT NULL,
    employee_id   text,
    credential_id uuid,
    left_system   text NOT NULL,
    left_value    text,
    right_system  text NOT NULL,
    right_value   text,
    observed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recon_observed_run ON staging.recon_observed (run_id, grp);

-- The listings' snapshots are re-read from their systems on every run: not worth WAL.
-- After a crash Postgres empties unlogged tables; staging.recon_snapshots goes with them,
-- and reconciliation refuses to compare against a snapshot it no longer has (rerun the
-- snapshot tasks).
ALTER TABLE staging.recon_snapshots SET UNLOGGED;
ALTER TABLE staging.lms_learners_snapshot SET UNLOGGED;
ALTER TABLE staging.registry_snapshot SET UNLOGGED;
ALTER TABLE staging.hris_writeback_snapshot SET UNLOGGED;
ALTER TABLE staging.credential_rules_snapshot SET UNLOGGED;

-- A listing arrives in its system's order, not in key order: maintaining a unique
-- (snapshot_id, key) index row by row cost the COPY of 2,000,000 certificates ten
-- times the load itself. The snapshot_id index (one key per load, so appended in
-- order) serves the per-snapshot scans; each load checks its keys are unique once,
-- after the COPY (credsync.recon.snapshots), and fails naming the duplicates.
ALTER TABLE staging.lms_learners_snapshot DROP CONSTRAINT lms_learners_snapshot_pkey;
DROP INDEX staging.lms_learners_snapshot_ext;
ALTER TABLE staging.registry_snapshot DROP CONSTRAINT registry_snapshot_pkey;
ALTER TABLE staging.hris_writeback_snapshot DROP CONSTRAINT hris_writeback_snapshot_pkey;
CREATE INDEX lms_learners_snapshot_id ON staging.lms_learners_snapshot (snapshot_id);
CREATE INDEX registry_snapshot_id ON staging.registry_snapshot (snapshot_id);
CREATE INDEX hris_writeback_snapshot_id ON staging.hris_writeback_snapshot (snapshot_id);
