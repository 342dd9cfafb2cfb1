-- 0029_career_path_eligibility: career-path eligibility cases, their grants and reviews (issue 17,
-- seed 002: automate eligibility and workflow initiation, not promotions). Rules live in
-- include/career_paths/career_paths_v<N>.yaml; credsync.careers evaluates them over core.

-- One case per (tenant, worker, rule, rule version), opened when the worker first meets the rule.
-- state: pending (an approval run asks) -> approved | rejected (final for this rule version)
--        pending -> expired (no answer in time: reopened and asked again by the next evaluation)
--        pending -> withdrawn (a prerequisite lapsed before a decision; reopened if met again)
-- ask counts the approval runs asked for this case: the approval run id is derived from the case
-- and the ask, so a rerun of the evaluation never starts a second run for the same ask.
CREATE TABLE IF NOT EXISTS core.career_eligibility_cases (
    tenant_id        text NOT NULL,
    case_id          uuid NOT NULL,      -- uuid5 of tenant, worker, rule, version: stable across rebuilds
    employee_id      text NOT NULL,
    rule_id          text NOT NULL,
    rule_version     integer NOT NULL,
    eligible_for     text NOT NULL,
    approver_kind    text NOT NULL CHECK (approver_kind IN ('manager', 'hrbp')),
    approver         text NOT NULL,      -- the manager's employee_id, or the HRBP group
    credential_ids   uuid[] NOT NULL,    -- the credentials that met the rule when the case (re)opened
    state            text NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'withdrawn')),
    state_reason     text,               -- why withdrawn / expired / rejected
    ask              integer NOT NULL DEFAULT 1,
    approval_run_id  text NOT NULL,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    decided_by       text,
    decided_at       timestamptz,
    decision_run_id  text,
    hris_written_at  timestamptz,        -- approved: when the HRIS profile took the eligibility
    review_state     text CHECK (review_state IN ('prerequisite_lapsed')),  -- approved cases only
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, case_id),
    UNIQUE (tenant_id, employee_id, rule_id, rule_version)
);
CREATE INDEX IF NOT EXISTS career_cases_open ON core.career_eligibility_cases (tenant_id, state)
    WHERE state IN ('pending', 'approved');

-- Every state change of a case, in order (who, when, why): the record analysts and auditors read.
CREATE TABLE IF NOT EXISTS core.career_eligibility_events (
    tenant_id   text NOT NULL,
    event_id    bigserial,
    case_id     uuid NOT NULL,
    event       text NOT NULL,  -- opened | reopened | approved | rejected | expired | withdrawn | hris_written | review_opened
    actor       text,           -- a person (HITL responder), or 'credsync'
    reason      text,
    dag_run_id  text,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES core.career_eligibility_cases (tenant_id, case_id)
);
CREATE INDEX IF NOT EXISTS career_events_case ON core.career_eligibility_events (tenant_id, case_id);

-- Granted eligibility, one row per approved case: what the talent marketplace sync (and analysts)
-- read. Never deleted and never demoted by credsync: a lapsed prerequisite sets review_state and
-- opens a review below; what to do about it is HR's decision.
CREATE TABLE IF NOT EXISTS core.career_eligibility (
    tenant_id        text NOT NULL,
    case_id          uuid NOT NULL,
    employee_id      text NOT NULL,
    eligible_for     text NOT NULL,
    rule_id          text NOT NULL,
    rule_version     integer NOT NULL,
    granted_by       text NOT NULL,
    granted_at       timestamptz NOT NULL,
    hris_written_at  timestamptz,
    review_state     text CHECK (review_state IN ('prerequisite_lapsed')),
    updated_at       timestamptz NOT NULL DEFAULT now(),   -- a delta reader's watermark
    PRIMARY KEY (tenant_id, case_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES core.career_eligibility_cases (tenant_id, case_id)
);
CREATE INDEX IF NOT EXISTS career_eligibility_worker ON core.career_eligibility (tenant_id, employee_id);
CREATE INDEX IF NOT EXISTS career_eligibility_delta ON core.career_eligibility (tenant_id, updated_at);

-- A granted eligibility whose prerequisite lapsed (expired, revoked): recorded for HR to review,
-- once per lapse (resolved_at set when the rule is met again).
CREATE TABLE IF NOT EXISTS core.career_eligibility_reviews (
    tenant_id    text NOT NULL,
    review_id    bigserial,
    case_id      uuid NOT NULL,
    employee_id  text NOT NULL,
    reason       text NOT NULL,
    opened_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    PRIMARY KEY (tenant_id, review_id),
    FOREIGN KEY (tenant_id, case_id) REFERENCES core.career_eligibility_cases (tenant_id, case_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS career_reviews_open ON core.career_eligibility_reviews (tenant_id, case_id)
    WHERE resolved_at IS NULL;
