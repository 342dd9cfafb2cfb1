-- 0012_trusted_credentials: reserved; filled by the change that needs it.
SELECT 1;
