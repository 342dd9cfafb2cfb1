-- 0020_retention: reserved slot; the schema changes for this step land here.
SELECT 1;
