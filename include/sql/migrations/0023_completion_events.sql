-- 0023_completion_events: LMS completion webhooks, recorded before anything else happens to them.
--
-- The receiver (credsync.events.receiver) inserts one row per verified event, unique on
-- (tenant_id, event_id), and only then wakes the completion_events DAG up (a Redis message
-- an AssetWatcher listens to). The row is the source of truth: a lost wake-up is found by the
-- DAG's own schedule (the sweep) and, at the latest, by the hourly LMS pull, which reads the
-- same completion from the LMS export and dedupes with it on core.completions' key
-- (tenant_id, 'lms_rest', enrollment_id).
CREATE TABLE audit.lms_completion_events (
    tenant_id      text NOT NULL,
    event_id       text NOT NULL,
    enrollment_id  text NOT NULL,              -- core.completions.source_id of source 'lms_rest'
    employee_id    text NOT NULL,              -- the item's user_external_id
    course_code    text NOT NULL,
    occurred_at    timestamptz NOT NULL,       -- when the LMS says the completion happened
    received_at    timestamptz NOT NULL DEFAULT now(),
    body           jsonb NOT NULL,             -- the event exactly as verified
    status         text NOT NULL DEFAULT 'received'
                   CHECK (status IN ('received', 'claimed', 'processed', 'refused')),
    claimed_by     text,                       -- the Airflow run processing it
    claimed_at     timestamptz,
    batch_id       uuid,                       -- audit.batches row its completion was staged in
    outcome        text,                       -- loaded | held | not_completed | quarantined | refused
    refused_reason text,                       -- why the gate refused its batch (no secrets)
    processed_at   timestamptz,
    deliveries     integer NOT NULL DEFAULT 1, -- times the LMS delivered this event
    wakeup_error   text,                       -- why the last wake-up message could not be sent
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX lms_completion_events_open ON audit.lms_completion_events (tenant_id, received_at)
    WHERE status IN ('received', 'claimed');
CREATE INDEX lms_completion_events_enrollment ON audit.lms_completion_events (tenant_id, enrollment_id);

-- Per credential, the moments of its path: completion (the evidence's latest qualifying
-- completion), the completion event's arrival when one came, the credential, the registry's
-- acknowledgement and the HRIS profile write-back. `path` says whether a completion event
-- announced it before the credential was made (event) or the scheduled pull found it (pull).
CREATE VIEW core.credential_latency AS
SELECT c.tenant_id, c.credential_id, c.employee_id, c.credential_type,
       coalesce((c.evidence ->> 'met_at')::timestamptz, (c.evidence ->> 'completed_at')::timestamptz)
           AS completed_at,
       ev.received_at AS event_received_at,
       c.created_at AS credential_at,
       ack.acknowledged_at AS registry_ack_at,
       w.delivered_at AS hris_writeback_at,
       CASE WHEN ev.received_at IS NOT NULL AND ev.received_at <= c.created_at THEN 'event' ELSE 'pull' END
           AS path
FROM core.credentials c
LEFT JOIN LATERAL (
    SELECT min(e.received_at) AS received_at
    FROM audit.lms_completion_events e
    WHERE e.tenant_id = c.tenant_id
      AND e.enrollment_id = ANY (
          SELECT substr(part, length('lms_rest:') + 1) FROM unnest(string_to_array(c.evidence_key, ',')) AS part
          WHERE part LIKE 'lms_rest:%')
) ev ON true
LEFT JOIN LATERAL (
    SELECT min(s.acknowledged_at) AS acknowledged_at
    FROM core.registry_submissions s
    WHERE s.credential_id = c.credential_id AND s.operation = 'issue' AND s.state = 'acknowledged'
) ack ON true
LEFT JOIN core.writebacks w
  ON w.tenant_id = c.tenant_id AND w.credential_id = c.credential_id AND w.target = 'hris_profile'
 AND w.state = 'delivered';
