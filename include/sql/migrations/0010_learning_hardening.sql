-- 0010_learning_hardening: filled in by the change that needs it.
SELECT 1;
