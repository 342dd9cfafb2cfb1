-- 0023_completion_events: reserved slot; the schema changes for this step land here.
SELECT 1;
