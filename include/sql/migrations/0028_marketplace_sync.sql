-- 0028_marketplace_sync: reserved; filled in by the change that needs it.
SELECT 1;
