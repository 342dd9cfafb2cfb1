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
