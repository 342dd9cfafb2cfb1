-- 0020_retention: audit payloads can expire without breaking the chain, and retention runs are recorded.
--
-- Until now row_hash covered the event's detail itself, so removing a payload broke every hash after
-- it. Events appended from now on (hash_version 2) hash a salted sha256 of entity key and detail
-- instead (payload_digest); the detail and its salt can then be replaced by a tombstone (and the
-- entity key by a pseudonym) while the row, its digest and every link stay checkable. Rows written
-- before (hash_version 1, the column's default) keep their hashes and still verify; a version-1 row
-- that is tombstoned keeps its link and its row_hash, which the redaction event that removed its
-- payload records (credsync.audit.redact).

ALTER TABLE audit.events
    ADD COLUMN IF NOT EXISTS hash_version  smallint NOT NULL DEFAULT 1 CHECK (hash_version IN (1, 2)),
    -- sha256(payload_salt || canonical {entity_key, detail}); part of row_hash in version 2.
    ADD COLUMN IF NOT EXISTS payload_digest text,
    -- Random per row, so that the digest of a small payload cannot be guessed back; NULL once tombstoned.
    ADD COLUMN IF NOT EXISTS payload_salt   text,
    -- The audit.payloads_redacted event that replaced this row's detail by a tombstone.
    ADD COLUMN IF NOT EXISTS tombstoned_by bigint;

-- The append-only trigger lets exactly one kind of UPDATE through: audit.tombstone_events replacing
-- detail (dropping the salt, and perhaps replacing the entity key) of a row not yet tombstoned, every
-- other column unchanged. Deletes stay refused.
CREATE OR REPLACE FUNCTION audit.events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND current_setting('credsync.audit_tombstone', true) = 'on'
       AND OLD.tombstoned_by IS NULL AND NEW.tombstoned_by IS NOT NULL
       AND NEW.tombstoned_by > OLD.event_id
       AND NEW.payload_salt IS NULL
       AND NEW.detail ? 'tombstone'
       AND (NEW.event_id, NEW.tenant_id, NEW.event_type, NEW.entity_type, NEW.occurred_at,
            NEW.prev_hash, NEW.row_hash, NEW.hash_version, NEW.payload_digest)
           IS NOT DISTINCT FROM
           (OLD.event_id, OLD.tenant_id, OLD.event_type, OLD.entity_type, OLD.occurred_at,
            OLD.prev_hash, OLD.row_hash, OLD.hash_version, OLD.payload_digest)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit.events is append-only (% of event %)', TG_OP, OLD.event_id
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- The only way the runtime role (which has no UPDATE on audit.events) removes a payload. Runs as the
-- chain's owner; refuses unless p_redaction_event_id is this tenant's audit.payloads_redacted event,
-- unused, the chain's head, and naming exactly as many targets, all before it and not yet tombstoned.
-- (Which rows it names is checked by the verifier, against the digest the event recorded.)
-- Returns the rows tombstoned.
-- p_entity_keys, when given, runs parallel to p_event_ids: each row's new entity key (a pseudonym).
CREATE OR REPLACE FUNCTION audit.tombstone_events(p_tenant_id text, p_event_ids bigint[],
                                                  p_redaction_event_id bigint, p_tombstone jsonb,
                                                  p_entity_keys text[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_count integer;
    v_done integer;
BEGIN
    SELECT (detail ->> 'count')::integer INTO v_count FROM audit.events
     WHERE event_id = p_redaction_event_id AND tenant_id = p_tenant_id
       AND event_type = 'audit.payloads_redacted';
    IF v_count IS NULL THEN
        RAISE EXCEPTION 'event % is not a redaction event of tenant %', p_redaction_event_id, p_tenant_id;
    END IF;
    -- A redaction event is used once, right after it was appended (it is the chain's head).
    IF EXISTS (SELECT 1 FROM audit.events WHERE tenant_id = p_tenant_id AND tombstoned_by = p_redaction_event_id)
       OR EXISTS (SELECT 1 FROM audit.events WHERE tenant_id = p_tenant_id AND event_id > p_redaction_event_id) THEN
        RAISE EXCEPTION 'redaction event % was already used or is not the chain head', p_redaction_event_id;
    END IF;
    IF v_count <> coalesce(cardinality(p_event_ids), 0) THEN
        RAISE EXCEPTION 'redaction event % names % targets, % given', p_redaction_event_id, v_count,
            coalesce(cardinality(p_event_ids), 0);
    END IF;
    IF p_entity_keys IS NOT NULL AND cardinality(p_entity_keys) <> cardinality(p_event_ids) THEN
        RAISE EXCEPTION 'p_entity_keys must run parallel to p_event_ids';
    END IF;
    PERFORM set_config('credsync.audit_tombstone', 'on', true);
    UPDATE audit.events e
       SET detail = jsonb_build_object('tombstone', p_tombstone || jsonb_build_object(
                        'redaction_event_id', p_redaction_event_id)),
           payload_salt = NULL,
           entity_key = coalesce(t.new_key, e.entity_key),
           tombstoned_by = p_redaction_event_id
      FROM unnest(p_event_ids, coalesce(p_entity_keys, array_fill(NULL::text, ARRAY[cardinality(p_event_ids)])))
           AS t(event_id, new_key)
     WHERE e.tenant_id = p_tenant_id AND e.event_id = t.event_id
       AND e.event_id < p_redaction_event_id AND e.tombstoned_by IS NULL
       AND e.event_type <> 'audit.payloads_redacted';
    GET DIAGNOSTICS v_done = ROW_COUNT;
    PERFORM set_config('credsync.audit_tombstone', 'off', true);
    IF v_done <> v_count THEN
        RAISE EXCEPTION 'redaction event % names % targets, % could be tombstoned', p_redaction_event_id,
            v_count, v_done;
    END IF;
    RETURN v_done;
END
$$;

-- The owner needs to reach its own table when the definer function runs as it.
GRANT USAGE ON SCHEMA audit TO credsync_audit_owner;
ALTER FUNCTION audit.events_append_only() OWNER TO credsync_audit_owner;
ALTER FUNCTION audit.tombstone_events(text, bigint[], bigint, jsonb, text[]) OWNER TO credsync_audit_owner;
REVOKE ALL ON FUNCTION audit.tombstone_events(text, bigint[], bigint, jsonb, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.tombstone_events(text, bigint[], bigint, jsonb, text[]) TO credsync_runtime;

-- Finding a tenant's tombstoned rows (verification, reruns) without scanning the chain.
CREATE INDEX IF NOT EXISTS events_tombstoned ON audit.events (tenant_id, tombstoned_by)
    WHERE tombstoned_by IS NOT NULL;

-- One row per retention run and tenant: what was purged, pseudonymised or tombstoned, per table.
CREATE TABLE IF NOT EXISTS audit.retention_runs (
    run_id        text NOT NULL,
    tenant_id     text NOT NULL,
    as_of         timestamptz NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    -- {"staging.hris_workers": {"purge": 3}, "audit.events": {"tombstone": 2}, ...}
    counts        jsonb NOT NULL DEFAULT '{}'::jsonb,
    total         integer NOT NULL DEFAULT 0,
    report_url    text,
    PRIMARY KEY (tenant_id, run_id)
);
