-- After the merge: each event of the run says what became of its completion. `loaded` also
-- when the scheduled pull had loaded it first (same key); `held` while its person is not in
-- core.workers; `quarantined` by the gate's record rules; `not_completed` for an enrollment
-- still in progress (the export shows it again when it completes).
UPDATE audit.lms_completion_events AS e
SET status = 'processed', processed_at = now(), updated_at = now(),
    outcome = CASE
        WHEN EXISTS (SELECT 1 FROM core.completions c
                     WHERE c.tenant_id = e.tenant_id AND c.source = 'lms_rest' AND c.source_id = e.enrollment_id)
            THEN 'loaded'
        WHEN EXISTS (SELECT 1 FROM core.held_completions h
                     WHERE h.tenant_id = e.tenant_id AND h.source = 'lms_rest' AND h.source_id = e.enrollment_id
                       AND h.released_at IS NULL)
            THEN 'held'
        WHEN EXISTS (SELECT 1 FROM staging.completions s
                     WHERE s.batch_id = e.batch_id AND s.source_id = e.enrollment_id AND s.quarantine_rule IS NOT NULL)
            THEN 'quarantined'
        ELSE 'not_completed' END
WHERE e.tenant_id = %(tenant_id)s AND e.claimed_by = %(run_id)s AND e.status = 'claimed'
