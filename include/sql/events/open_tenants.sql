-- Tenants with events waiting (new, or claimed by a run that did not finish).
SELECT DISTINCT tenant_id FROM audit.lms_completion_events WHERE status IN ('received', 'claimed')
