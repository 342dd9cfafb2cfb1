-- completions <-> credentials: the issuance plan (credential_plan, built from
-- include/sql/credentials/plan/ over completions before the grace cut-off)
-- still owes a credential: a first issue or a renewal that never happened.
-- Terminated workers, late completions and unmet prerequisites are not owed.
INSERT INTO recon_observed
SELECT 'completions_credentials', 'credential_not_issued', p.employee_id || ':' || p.credential_type,
       p.employee_id || ':' || p.credential_type, p.employee_id, NULL,
       'completions', p.rule_id || ' met ' || to_char(p.met_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
       'credentials', CASE WHEN p.decision = 'renewed'
                           THEN 'renewal due; active until ' || p.active_expiry END
FROM credential_plan p
WHERE p.decision IN ('issued', 'renewed');
