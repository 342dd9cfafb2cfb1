-- Move the tenant's HRIS worker watermark forward (never backwards). Run in the merge transaction.
INSERT INTO audit.sync_state AS s (tenant_id, source, stream, watermark, last_batch_id, updated_at)
VALUES (%(tenant_id)s, 'hris', 'workers', %(watermark)s, %(batch_id)s, now())
ON CONFLICT (tenant_id, source, stream) DO UPDATE
SET watermark = EXCLUDED.watermark, last_batch_id = COALESCE(EXCLUDED.last_batch_id, s.last_batch_id),
    updated_at = now()
WHERE s.watermark IS NULL OR s.watermark::timestamptz < EXCLUDED.watermark::timestamptz
