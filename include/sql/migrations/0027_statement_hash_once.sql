-- 0027_statement_hash_once: the statement content hash strips the five keys the spec ignores in one
-- `jsonb - text[]` instead of five chained `-` (each copied the whole statement). Same jsonb, so the
-- same text and the same sha256: every stored hash stays valid (tests/integration/learning/
-- test_statement_hash.py compares both forms). About half the cost on the merge of a large pull.
CREATE OR REPLACE FUNCTION core.statement_content_hash(statement jsonb, happened_at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(
        CASE WHEN jsonb_typeof(statement) = 'object'
             THEN (statement - '{stored,authority,version,id,timestamp}'::text[])::text
             ELSE statement::text END
        || '|' || coalesce(extract(epoch FROM happened_at)::text, ''), 'UTF8')), 'hex')
$$;
