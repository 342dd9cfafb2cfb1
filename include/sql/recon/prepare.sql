-- Per-run scratch tables (this transaction only): what the comparisons observed,
-- and the joins several comparisons share. No parameters, so one execute.
-- Dropped first in case the caller runs two reconciliations in one outer transaction.
DROP TABLE IF EXISTS pg_temp.recon_observed, pg_temp.recon_lms_users,
    pg_temp.recon_registry_match, pg_temp.recon_policy, pg_temp.credential_rules_eval, pg_temp.credential_plan,
    pg_temp.plan_met, pg_temp.plan_candidates;

CREATE TEMP TABLE recon_observed (
    comparison    text NOT NULL,
    finding_type  text NOT NULL,
    entity_key    text NOT NULL,
    subject       text NOT NULL,  -- the unit drift rates count (worker, credential, ...)
    employee_id   text,
    credential_id uuid,
    left_system   text NOT NULL,
    left_value    text,
    right_system  text NOT NULL,
    right_value   text
) ON COMMIT DROP;

-- LMS users with the employee they belong to (externalId, else our learner link).
CREATE TEMP TABLE recon_lms_users (
    scim_id          text NOT NULL,
    employee_id      text,
    active           boolean NOT NULL,
    email_normalized text,
    department       text,
    manager_value    text,
    duplicate        boolean NOT NULL  -- the worker has several LMS accounts
) ON COMMIT DROP;

-- Every credential with the registry certificate it corresponds to, if any.
CREATE TEMP TABLE recon_registry_match (
    credential_id     uuid NOT NULL,
    employee_id       text NOT NULL,
    credential_type   text NOT NULL,
    status            text NOT NULL,
    created_at        timestamptz NOT NULL,
    issue_state       text,
    revoke_state      text,
    registry_id       text,
    registry_status   text,
    credential_version text NOT NULL  -- the registry's natural key: '<issue_date>.v<version>'
) ON COMMIT DROP;

CREATE TEMP TABLE recon_policy (
    finding_type text PRIMARY KEY,
    comparison   text NOT NULL,
    severity     text NOT NULL,
    owner        text NOT NULL,
    fix          text
) ON COMMIT DROP;
