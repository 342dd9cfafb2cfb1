-- 0022_national_lrs: reserved slot; the schema changes for this step land here.
SELECT 1;
