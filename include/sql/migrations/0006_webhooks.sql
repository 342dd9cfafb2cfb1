-- HRIS lifecycle webhooks (worker.hired / worker.terminated) the receiver accepted.
-- One row per (tenant, event_id): the primary key is the replay guard, so a
-- re-delivered event is answered from here and never triggers a second run.
-- Only verified events land here (a bad signature or stale timestamp is logged,
-- not stored); the signature and the tenant's secret are never stored.
CREATE TABLE audit.hris_webhook_events (
    tenant_id     text NOT NULL,
    event_id      text NOT NULL,
    type          text NOT NULL CHECK (type IN ('worker.hired', 'worker.terminated')),
    employee_id   text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    body          jsonb NOT NULL,          -- the event exactly as verified
    status        text NOT NULL DEFAULT 'received'
                  CHECK (status IN ('received', 'triggered', 'trigger_failed')),
    triggered_run text,                    -- the Airflow run that picks the change up
    trigger_error text,                    -- why the last trigger attempt failed (no secrets)
    deliveries    integer NOT NULL DEFAULT 1,  -- times the HRIS delivered this event
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX hris_webhook_events_worker ON audit.hris_webhook_events (tenant_id, employee_id, occurred_at);
CREATE INDEX hris_webhook_events_open ON audit.hris_webhook_events (tenant_id, received_at)
    WHERE status <> 'triggered';
