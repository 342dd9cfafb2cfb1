-- 0013_lrs_sync: reserved; filled by the change that needs it.
SELECT 1;
