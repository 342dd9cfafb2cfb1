-- 0008_ingest_hardening: a rejected HRIS batch is retried as the same batch, its quarantine
-- is idempotent per (batch, record, rule), records can be parked for review, and schema
-- drift found while staging is kept on the batch for the gate.

-- Quarantine rows written twice for the same batch, record and rule (earlier retries) collapse
-- to the first one before the unique index can exist.
DELETE FROM audit.quarantine q
USING audit.quarantine first
WHERE q.batch_id = first.batch_id
  AND q.rule = first.rule
  AND q.record_key IS NOT DISTINCT FROM first.record_key
  AND q.quarantine_id > first.quarantine_id;

-- record_key can be NULL (a record without its key); NULLS NOT DISTINCT (PostgreSQL 15+)
-- makes two keyless rows of one rule in one batch one row, as ON CONFLICT DO NOTHING expects.
-- Stagers give keyless records a positional key ('#<position>') so that this stays rare.
CREATE UNIQUE INDEX IF NOT EXISTS quarantine_batch_record_rule
    ON audit.quarantine (batch_id, record_key, rule) NULLS NOT DISTINCT;

-- Parked: someone (or the documented within-limit policy) decided the record may stay out of
-- core while the watermark moves past it. Unparked quarantine of a rejected batch blocks it.
ALTER TABLE audit.quarantine
    ADD COLUMN IF NOT EXISTS parked_at timestamptz,
    ADD COLUMN IF NOT EXISTS parked_by text,
    ADD COLUMN IF NOT EXISTS park_note text;

-- window_key names what a batch covers ('updated_since=<watermark>', 'full', 'file=<name>');
-- an extract of a window whose batch is not merged yet re-stages that batch (attempts + 1).
ALTER TABLE audit.batches
    ADD COLUMN IF NOT EXISTS window_key text,
    ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS schema_drift jsonb;
CREATE INDEX IF NOT EXISTS batches_open_window
    ON audit.batches (tenant_id, source, stream, window_key) WHERE status <> 'merged';
