-- 0024_registry_notifications: signed issuance/revocation notifications to the registry, and the
-- registry's own notifications back (acknowledgement, or rejection after manual review).
--
-- One notification per registry submission the registry acknowledged (credsync.delivery.notifications):
-- the submission's idempotency key is the notification's key, and its event id is derived from it,
-- so enqueueing twice, or sending again after a lost answer, is the same notification.
-- States are the submissions' (pending -> sent -> acknowledged | dead, forward only, ranked by
-- core.registry_submission_rank of 0004); 'acknowledged' here means the registry's receiver took it.
-- Each HTTP exchange is a row of core.registry_attempts (operation notify_issue / notify_revoke);
-- a refused one is an audit.dead_letters row of source 'registry_notification'.
CREATE TABLE core.registry_notifications (
    tenant_id            text NOT NULL,
    event_id             text PRIMARY KEY,           -- '<idempotency_key>-notify'
    idempotency_key      text NOT NULL UNIQUE REFERENCES core.registry_submissions (idempotency_key),
    credential_id        uuid NOT NULL,
    event_type           text NOT NULL CHECK (event_type IN ('credential.issued', 'credential.revoked')),
    registry_id          text NOT NULL,              -- the registry's certificate id
    occurred_at          timestamptz NOT NULL,       -- when the registry took the write (submission ack)
    state                text NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'sent', 'acknowledged', 'dead')),
    attempts             integer NOT NULL DEFAULT 0,
    last_status          integer,
    last_error           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    sent_at              timestamptz,
    delivered_at         timestamptz,                -- the registry's receiver answered 2xx
    -- What the registry said after it looked at the notification (its own signed notification).
    review_state         text CHECK (review_state IN ('acknowledged', 'rejected')),
    registry_acked_at    timestamptz,                -- the registry's acknowledgement (its occurred_at)
    registry_rejected_at timestamptz,
    review_reason        text,                       -- the registry's reason for a rejection
    review_event_id      text                        -- the registry's event that decided it
);
CREATE INDEX registry_notifications_open ON core.registry_notifications (tenant_id, state)
    WHERE state IN ('pending', 'sent');
CREATE INDEX registry_notifications_credential ON core.registry_notifications (credential_id);

CREATE OR REPLACE FUNCTION core.registry_notifications_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF core.registry_submission_rank(NEW.state) < core.registry_submission_rank(OLD.state) THEN
        RAISE EXCEPTION 'registry notification %: state may not move from % to %',
            OLD.event_id, OLD.state, NEW.state USING ERRCODE = 'check_violation';
    END IF;
    -- A review is final: the registry's later notifications cannot undo a rejection or an acknowledgement.
    IF OLD.review_state IS NOT NULL AND NEW.review_state IS DISTINCT FROM OLD.review_state THEN
        RAISE EXCEPTION 'registry notification %: review % is final', OLD.event_id, OLD.review_state
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER registry_notifications_forward_only
    BEFORE UPDATE ON core.registry_notifications
    FOR EACH ROW EXECUTE FUNCTION core.registry_notifications_forward_only();

-- The outgoing batch as the GX gate (suite registry_notifications) sees it before anything is sent.
CREATE TABLE staging.registry_notifications (
    tenant_id    text NOT NULL,
    batch_id     uuid NOT NULL,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    registry_id  text,
    occurred_at  timestamptz,
    body_bytes   integer NOT NULL,
    staged_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registry_notifications_batch ON staging.registry_notifications (tenant_id, batch_id);

-- The registry's signed notifications the receiver accepted; the primary key is the replay guard.
CREATE TABLE audit.registry_webhook_events (
    tenant_id             text NOT NULL,
    event_id              text NOT NULL,            -- the registry's event id
    type                  text NOT NULL CHECK (type IN ('notification.acknowledged', 'notification.rejected')),
    notification_event_id text NOT NULL,            -- core.registry_notifications.event_id it is about
    occurred_at           timestamptz NOT NULL,
    received_at           timestamptz NOT NULL DEFAULT now(),
    body                  jsonb NOT NULL,           -- exactly as verified (no signature, no secret)
    deliveries            integer NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, event_id)
);
