-- 0010_learning_hardening: statement ids are immutable; a re-sent id is compared by content.
--
-- xAPI says a statement id names one statement for good (an LRS answers 409 to a different
-- statement under a stored id), but a second version can still reach the pull: an LRS rebuilt
-- from an export, a second LRS, a store that does not enforce the rule. The first stored version
-- stays; a different one is quarantined as conflicting_duplicate (learning/conflicting_duplicates.sql),
-- an identical one stays a silent no-op. "Identical" follows the spec's comparison rules: the
-- LRS-set properties (stored, authority, version) and the id's case are ignored, and the
-- timestamp is compared as an instant (passed in as the staged completed_at), not as text.

CREATE FUNCTION core.statement_content_hash(statement jsonb, happened_at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(
        CASE WHEN jsonb_typeof(statement) = 'object'
             THEN (statement - 'stored' - 'authority' - 'version' - 'id' - 'timestamp')::text
             ELSE statement::text END
        || '|' || coalesce(extract(epoch FROM happened_at)::text, ''), 'UTF8')), 'hex')
$$;
COMMENT ON FUNCTION core.statement_content_hash(jsonb, timestamptz) IS
    'sha256 of an xAPI statement as the spec compares statements (no stored/authority/version/id; timestamp as an instant)';

-- The content hash of the version each table holds; NULL only where no staged copy was left to hash.
ALTER TABLE core.completions ADD COLUMN content_hash text;
ALTER TABLE core.voided_statements ADD COLUMN content_hash text;

UPDATE core.completions AS k
SET content_hash = core.statement_content_hash(s.raw, s.completed_at)
FROM staging.completions AS s
WHERE k.source = 'xapi' AND s.batch_id = k.batch_id AND s.source = k.source AND s.source_id = k.source_id
  AND s.quarantine_rule IS NULL;

UPDATE core.voided_statements AS v
SET content_hash = core.statement_content_hash(s.raw, s.completed_at)
FROM staging.completions AS s
WHERE s.batch_id = v.batch_id AND s.source = v.source AND s.source_id = v.voided_by
  AND s.quarantine_rule IS NULL;

-- A re-sent voiding statement is found by its own id.
CREATE INDEX voided_statements_by ON core.voided_statements (tenant_id, source, voided_by);

-- The key every quarantine row and gate message names a staged record by: the statement or
-- enrollment id, or source#row_number when the record has none (same rule as quarantine_rows.sql).
ALTER TABLE staging.completions
    ADD COLUMN record_key text GENERATED ALWAYS AS (coalesce(source_id, source || '#' || row_number::text)) STORED;
