-- 0017_provisioning_guards: reserved; filled by the change that needs it.
SELECT 1;
