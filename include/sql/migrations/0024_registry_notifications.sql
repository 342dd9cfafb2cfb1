-- 0024_registry_notifications: reserved slot; the schema changes for this step land here.
SELECT 1;
