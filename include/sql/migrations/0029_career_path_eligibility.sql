-- 0029_career_path_eligibility: reserved; filled in by the change that needs it.
SELECT 1;
