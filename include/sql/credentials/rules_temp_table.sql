-- The validated rules of include/mappings/credential_rules.csv for this transaction (filled by COPY).
CREATE TEMP TABLE credential_rules_eval (
    rule_id             text PRIMARY KEY,
    course_codes        text[] NOT NULL,
    credential_type     text NOT NULL,
    achievement_name    text NOT NULL,
    min_score           numeric,
    validity_days       integer NOT NULL,
    renewal_window_days integer NOT NULL,
    requires_credential text,
    pay_impact          boolean NOT NULL,
    issuer              text NOT NULL,
    rule_version        text NOT NULL
) ON COMMIT DROP
