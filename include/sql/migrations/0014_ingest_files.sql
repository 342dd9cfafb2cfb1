-- 0014_ingest_files: reserved; filled by the change that needs it.
SELECT 1;
