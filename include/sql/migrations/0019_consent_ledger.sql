-- 0019_consent_ledger: who consented to what purpose, when, from which source; withdrawals too.
-- Append-only: the current state of a (tenant, worker, purpose) is its latest event.
CREATE TABLE core.consent_events (
    event_id     bigserial PRIMARY KEY,
    tenant_id    text NOT NULL,
    employee_id  text NOT NULL,
    purpose      text NOT NULL CHECK (purpose ~ '^[a-z][a-z0-9_]{1,63}$'),
    action       text NOT NULL CHECK (action IN ('grant', 'withdraw')),
    source       text NOT NULL,            -- where the decision was captured (hris, lms, form, ...)
    reason       text,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX consent_events_subject ON core.consent_events (tenant_id, employee_id, purpose, event_id DESC);

CREATE FUNCTION core.consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'core.consent_events is append-only: record a new grant or withdrawal instead';
END $$;
CREATE TRIGGER consent_events_append_only
    BEFORE UPDATE OR DELETE ON core.consent_events
    FOR EACH ROW EXECUTE FUNCTION core.consent_events_append_only();

CREATE VIEW core.consent_current AS
SELECT DISTINCT ON (tenant_id, employee_id, purpose)
       tenant_id, employee_id, purpose, action, source, reason, recorded_at
FROM core.consent_events
ORDER BY tenant_id, employee_id, purpose, event_id DESC;
