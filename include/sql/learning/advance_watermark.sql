-- Watermarks only move forward, and only after the load they cover has committed.
INSERT INTO audit.sync_state (tenant_id, source, stream, watermark, last_batch_id, updated_at)
VALUES (%(tenant_id)s, %(source)s, %(stream)s, %(watermark)s, %(batch_id)s, now())
ON CONFLICT (tenant_id, source, stream) DO UPDATE
SET watermark = excluded.watermark, last_batch_id = excluded.last_batch_id, updated_at = now()
WHERE audit.sync_state.watermark IS NULL OR audit.sync_state.watermark < excluded.watermark
