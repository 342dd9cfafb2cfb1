-- 0017_provisioning_guards: the brake on mass changes, the failure budget per SCIM target, and
-- effective-dated changes held until their date. Every table carries tenant_id.

-- A set of destructive changes (deactivations; group removals) one run wanted to make beyond the
-- tenant's brake threshold: staged here, applied only after a human approves it (HITL), exactly as
-- staged. status: pending -> approved -> applied | rejected (parked with a reason) | expired (no
-- answer before the approval timed out; nothing applied, the next run asks again).
CREATE TABLE core.staged_change_sets (
    change_set_id  uuid PRIMARY KEY,
    tenant_id      text NOT NULL,
    kind           text NOT NULL DEFAULT 'users' CHECK (kind IN ('users', 'groups')),
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'applied', 'rejected', 'expired')),
    changes        integer NOT NULL,
    population     integer NOT NULL,   -- active accounts of the tenant when staged (the share's base)
    threshold      jsonb NOT NULL,     -- the brake settings that tripped
    dag_run_id     text,
    staged_at      timestamptz NOT NULL DEFAULT now(),
    decided_at     timestamptz,
    decided_by     text,
    reason         text,
    UNIQUE (tenant_id, change_set_id)
);
-- At most one undecided set per tenant and kind: a second run waits for the first decision.
CREATE UNIQUE INDEX staged_change_sets_one_pending ON core.staged_change_sets (tenant_id, kind)
    WHERE status = 'pending';

CREATE TABLE core.staged_changes (
    tenant_id      text NOT NULL,
    change_set_id  uuid NOT NULL,
    employee_id    text NOT NULL,
    scim_id        text,
    action         text NOT NULL,      -- deactivate | remove_member
    target         jsonb NOT NULL,     -- the SCIM resource (or PATCH) to send, as staged
    target_hash    text NOT NULL,      -- provision.state_hash of target: an approval applies it only if current
    outcome        text CHECK (outcome IN ('applied', 'superseded', 'failed')),
    detail         text,
    PRIMARY KEY (tenant_id, change_set_id, employee_id, action),
    FOREIGN KEY (tenant_id, change_set_id) REFERENCES core.staged_change_sets (tenant_id, change_set_id)
);
CREATE INDEX staged_changes_worker ON core.staged_changes (tenant_id, employee_id);

-- A tenant's SCIM target that failed more than its failure budget: provisioning skips it until
-- next_attempt_at (back-off), then probes it; released_at set = a human released it.
CREATE TABLE core.provisioning_quarantine (
    tenant_id       text NOT NULL,
    target          text NOT NULL DEFAULT 'scim',
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL,  -- SCIM writes in the run that tripped the budget
    failures        integer NOT NULL,
    strikes         integer NOT NULL DEFAULT 1,  -- consecutive trips: picks the back-off step
    next_attempt_at timestamptz NOT NULL,
    reason          text NOT NULL,
    dag_run_id      text,              -- the run that (last) tripped it
    released_at     timestamptz,
    released_by     text,
    PRIMARY KEY (tenant_id, target)
);

-- A worker change dated in the future (termination, hire, rehire): provisioning keeps the account
-- as it is until effective_date (tenant's time zone), then applies it and sets applied_at.
CREATE TABLE core.held_changes (
    tenant_id       text NOT NULL,
    employee_id     text NOT NULL,
    change          text NOT NULL CHECK (change IN ('termination', 'hire', 'rehire')),
    effective_date  date NOT NULL,
    first_held_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    applied_at      timestamptz,
    PRIMARY KEY (tenant_id, employee_id, change, effective_date)
);
CREATE INDEX held_changes_open ON core.held_changes (tenant_id, effective_date) WHERE applied_at IS NULL;
