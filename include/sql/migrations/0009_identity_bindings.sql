-- 0009_identity_bindings: filled in by the change that needs it.
SELECT 1;
