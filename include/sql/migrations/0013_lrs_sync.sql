-- 0013_lrs_sync: what an LRS pull saw (lateness, overlap, reconciliation), and the indexes the
-- sync asks for on every run (credsync.learning.lrs_sync).

-- One row per learning batch that pulled statements; a re-staged batch (same window) overwrites it.
-- lateness = stored - timestamp per statement: how late statements reach the LRS, so the
-- overlap (lookback) can be sized; buckets are counts per upper edge in seconds.
CREATE TABLE IF NOT EXISTS audit.lrs_pulls (
    batch_id            uuid PRIMARY KEY REFERENCES audit.batches (batch_id),
    tenant_id           text NOT NULL,
    since               text,          -- what the pull asked for: watermark - lookback
    watermark_before    text,
    watermark_after     text,
    consistent_through  text,          -- earliest X-Experience-API-Consistent-Through, NULL = not sent
    statements          bigint NOT NULL DEFAULT 0,
    duplicates          bigint NOT NULL DEFAULT 0,   -- same id twice in this pull (overlap, pages)
    already_quarantined bigint NOT NULL DEFAULT 0,   -- sent again, quarantined by a merged batch: skipped
    already_merged      bigint NOT NULL DEFAULT 0,   -- re-read by the overlap, already in the warehouse: skipped
    future_dated        bigint NOT NULL DEFAULT 0,   -- timestamp beyond now + skew (quarantined)
    reconciled          boolean NOT NULL DEFAULT false,
    reconcile_since     text,
    reconcile_listed    bigint NOT NULL DEFAULT 0,
    reconcile_missing   bigint NOT NULL DEFAULT 0,   -- statements no pull had brought
    lateness_count      bigint NOT NULL DEFAULT 0,
    lateness_max_s      double precision,
    lateness_p95_s      double precision,
    lateness_buckets    jsonb,
    pulled_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS lrs_pulls_tenant ON audit.lrs_pulls (tenant_id, pulled_at);
COMMENT ON TABLE audit.lrs_pulls IS
    'Per learning batch: the LRS window asked for, watermarks, duplicates, skipped re-sent quarantine, reconciliation and lateness (stored - timestamp)';

-- Which statement ids a tenant has quarantined (skipped when an LRS sends them again).
CREATE INDEX IF NOT EXISTS quarantine_tenant_record ON audit.quarantine (tenant_id, record_key);

-- A void of an xAPI statement reaches the LMS REST copy of the same enrollment through the
-- registration (credsync.learning.merge, learning/void_rest_twins.sql).
CREATE INDEX IF NOT EXISTS completions_rest_registration
    ON core.completions (tenant_id, lower(registration)) WHERE source = 'lms_rest';
-- The reconciliation asks whether statement ids were ever seen as voiding statements.
CREATE INDEX IF NOT EXISTS voided_statements_by ON core.voided_statements (tenant_id, voided_by);
-- ...and the other way: a REST row of this batch looks for voided xAPI rows of its enrollment
-- (few: only voided ones are indexed), so a large history does not scan every xAPI completion.
CREATE INDEX IF NOT EXISTS completions_voided_xapi_registration
    ON core.completions (tenant_id, lower(registration)) WHERE source = 'xapi' AND voided;
