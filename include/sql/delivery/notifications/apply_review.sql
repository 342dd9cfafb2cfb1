-- The registry's decision on one notification; the first decision is final (the trigger refuses changes).
UPDATE core.registry_notifications
SET review_state = %(decision)s,
    registry_acked_at = CASE WHEN %(decision)s = 'acknowledged' THEN %(occurred_at)s::timestamptz END,
    registry_rejected_at = CASE WHEN %(decision)s = 'rejected' THEN %(occurred_at)s::timestamptz END,
    review_reason = %(reason)s,
    review_event_id = %(review_event_id)s
WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s AND review_state IS NULL
