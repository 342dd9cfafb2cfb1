-- Move a stream's watermark forward (never backwards); run in the merge transaction, so it never passes
-- data that did not commit. as_instant: compare as timestamps (HRIS as_of) rather than as text (learning).
INSERT INTO audit.sync_state AS s (tenant_id, source, stream, watermark, last_batch_id, updated_at)
VALUES (%(tenant_id)s, %(source)s, %(stream)s, %(watermark)s, %(batch_id)s, now())
ON CONFLICT (tenant_id, source, stream) DO UPDATE
SET watermark = EXCLUDED.watermark, last_batch_id = COALESCE(EXCLUDED.last_batch_id, s.last_batch_id),
    updated_at = now()
WHERE s.watermark IS NULL
   OR CASE WHEN %(as_instant)s THEN s.watermark::timestamptz < EXCLUDED.watermark::timestamptz
           ELSE s.watermark < EXCLUDED.watermark END
