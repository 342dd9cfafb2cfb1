-- 0026_snapshot_partitions: one partition per listing snapshot, so an old snapshot is dropped, not
-- deleted row by row (no dead tuples, no VACUUM after every reconciliation run).
-- Each snapshot table becomes a LIST-partitioned parent on snapshot_id. A load builds its partition
-- as a standalone unlogged table, fills it (COPY), checks it and then ATTACHes it, which takes
-- only a SHARE UPDATE EXCLUSIVE lock on the parent: other tenants' comparisons keep reading
-- (credsync.recon.snapshots). Existing snapshots move into partitions of their own.
-- The per-snapshot indexes go: a comparison reads its snapshot's partition whole.
CREATE FUNCTION staging.attach_snapshot_partition(parent text, snapshot uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    part text := parent || '_' || replace(snapshot::text, '-', '');
BEGIN
    EXECUTE format('CREATE UNLOGGED TABLE staging.%I (LIKE staging.%I INCLUDING DEFAULTS)', part, parent);
    -- With this constraint in place ATTACH does not scan the partition to prove it.
    EXECUTE format('ALTER TABLE staging.%I ADD CONSTRAINT %I CHECK (snapshot_id = %L::uuid)',
                   part, part || '_one', snapshot);
    EXECUTE format('ALTER TABLE staging.%I ATTACH PARTITION staging.%I FOR VALUES IN (%L::uuid)',
                   parent, part, snapshot);
END $$;

DO $$
DECLARE
    parent text;
    snap uuid;
BEGIN
    FOREACH parent IN ARRAY ARRAY['lms_learners_snapshot', 'registry_snapshot', 'hris_writeback_snapshot',
                                  'credential_rules_snapshot'] LOOP
        EXECUTE format('ALTER TABLE staging.%I RENAME TO %I', parent, parent || '_unpartitioned');
        EXECUTE format('CREATE TABLE staging.%I (LIKE staging.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
                       'PARTITION BY LIST (snapshot_id)', parent, parent || '_unpartitioned');
        FOR snap IN EXECUTE format('SELECT DISTINCT snapshot_id FROM staging.%I', parent || '_unpartitioned') LOOP
            PERFORM staging.attach_snapshot_partition(parent, snap);
            EXECUTE format('INSERT INTO staging.%I SELECT * FROM staging.%I WHERE snapshot_id = %L',
                           parent, parent || '_unpartitioned', snap);
        END LOOP;
        EXECUTE format('DROP TABLE staging.%I', parent || '_unpartitioned');
    END LOOP;
END $$;
DROP FUNCTION staging.attach_snapshot_partition(text, uuid);
