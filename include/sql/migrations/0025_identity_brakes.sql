-- 0025_identity_brakes: the brake on mass group removals, and effective dates for leave, return
-- and transfers. Every table carries tenant_id.

-- Group removals are staged like deactivations (kind 'groups' in core.staged_change_sets); one
-- worker may leave several groups in one set, so the group is part of a staged change's key
-- ('' for a deactivation, which names no group).
ALTER TABLE core.staged_changes ADD COLUMN IF NOT EXISTS group_key text NOT NULL DEFAULT '';
ALTER TABLE core.staged_changes DROP CONSTRAINT IF EXISTS staged_changes_pkey;
ALTER TABLE core.staged_changes ADD PRIMARY KEY (tenant_id, change_set_id, employee_id, action, group_key);

-- The HRIS's effective date of the worker's current status (a leave's first day, the day of the
-- return from leave) and of the current job (department, job_title, manager_id, location: a
-- transfer), as the HRIS exports them (Workday/BambooHR: one effective date per status or job
-- change). Provisioning keeps the previous status or job until that date (credsync.people.effective).
ALTER TABLE staging.hris_workers ADD COLUMN IF NOT EXISTS status_effective_date date,
                                 ADD COLUMN IF NOT EXISTS job_effective_date date;
ALTER TABLE core.workers ADD COLUMN IF NOT EXISTS status_effective_date date,
                         ADD COLUMN IF NOT EXISTS job_effective_date date;

ALTER TABLE core.held_changes DROP CONSTRAINT IF EXISTS held_changes_change_check;
ALTER TABLE core.held_changes ADD CONSTRAINT held_changes_change_check
    CHECK (change IN ('termination', 'hire', 'rehire', 'leave', 'return', 'transfer'));

-- What provisioning holds a worker at today when a change of theirs waits for its date: the
-- status and job the LMS keeps until then. Group Push derives memberships from these values
-- (not core.workers) while the row's source_updated_at matches the worker's, so a held
-- termination or transfer moves no group early. Rows exist only for held workers.
CREATE TABLE IF NOT EXISTS core.worker_effective (
    tenant_id          text NOT NULL,
    employee_id        text NOT NULL,
    employment_status  text NOT NULL,
    department         text,
    job_title          text,
    manager_id         text,
    location           text,
    source_updated_at  timestamptz NOT NULL,  -- the core.workers version this was computed from
    computed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, employee_id)
);
