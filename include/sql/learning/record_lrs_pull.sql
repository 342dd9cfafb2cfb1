-- What one LRS pull saw (credsync.learning.lrs_sync.PullStats), one row per batch.
INSERT INTO audit.lrs_pulls (
    batch_id, tenant_id, since, watermark_before, watermark_after, consistent_through, statements, duplicates,
    already_quarantined, already_merged, future_dated, reconciled, reconcile_since, reconcile_listed, reconcile_missing,
    lateness_count, lateness_max_s, lateness_p95_s, lateness_buckets
) VALUES (
    %(batch_id)s, %(tenant_id)s, %(since)s, %(watermark_before)s, %(watermark_after)s, %(consistent_through)s,
    %(statements)s, %(duplicates)s, %(already_quarantined)s, %(already_merged)s, %(future_dated)s, %(reconciled)s,
    %(reconcile_since)s, %(reconcile_listed)s, %(reconcile_missing)s, %(lateness_count)s, %(lateness_max_s)s,
    %(lateness_p95_s)s, %(lateness_buckets)s
)
ON CONFLICT (batch_id) DO UPDATE SET
    since = excluded.since, watermark_before = excluded.watermark_before,
    watermark_after = excluded.watermark_after, consistent_through = excluded.consistent_through,
    statements = excluded.statements, duplicates = excluded.duplicates,
    already_quarantined = excluded.already_quarantined, already_merged = excluded.already_merged,
    future_dated = excluded.future_dated,
    reconciled = excluded.reconciled, reconcile_since = excluded.reconcile_since,
    reconcile_listed = excluded.reconcile_listed, reconcile_missing = excluded.reconcile_missing,
    lateness_count = excluded.lateness_count, lateness_max_s = excluded.lateness_max_s,
    lateness_p95_s = excluded.lateness_p95_s, lateness_buckets = excluded.lateness_buckets, pulled_at = now()
