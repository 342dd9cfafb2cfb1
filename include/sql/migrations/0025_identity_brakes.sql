-- 0025_identity_brakes: reserved slot; the schema changes for this step land here.
SELECT 1;
