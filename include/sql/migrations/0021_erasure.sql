-- 0021_erasure: reserved slot; the schema changes for this step land here.
SELECT 1;
