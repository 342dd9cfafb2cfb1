-- 0008_ingest_hardening: filled in by the change that needs it.
SELECT 1;
