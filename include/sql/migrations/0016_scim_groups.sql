-- 0016_scim_groups: LMS groups pushed over SCIM (Okta Group Push style) from HRIS attributes and
-- IdP groups/role claims, through the versioned mapping include/mappings/groups_v*.csv.

-- What the IdP listed, one row per (user, claim) per batch, as extracted (credsync.groups.ingest).
CREATE TABLE IF NOT EXISTS staging.idp_claims (
    batch_id     uuid NOT NULL,
    tenant_id    text NOT NULL,
    row_number   integer NOT NULL,
    idp_user_id  text,
    employee_id  text,           -- the IdP user's profile.employeeNumber (the HRIS key)
    user_status  text,           -- Okta user status (ACTIVE, SUSPENDED, DEPROVISIONED, ...)
    claim_kind   text,           -- group | role
    claim_value  text,           -- the IdP group's profile.name, or the role claim
    PRIMARY KEY (batch_id, row_number)
);

-- The IdP's current claims per worker: replaced as a whole by each merged IdP batch (the listing
-- is complete every time, so a claim the IdP no longer lists is gone).
CREATE TABLE IF NOT EXISTS core.idp_claims (
    tenant_id     text NOT NULL,
    employee_id   text NOT NULL,
    claim_kind    text NOT NULL CHECK (claim_kind IN ('group', 'role')),
    claim_value   text NOT NULL,
    idp_user_id   text NOT NULL,
    last_batch_id uuid NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, employee_id, claim_kind, claim_value)
);

-- Every LMS group credsync manages (or once managed) per tenant. group_key is the mapping's
-- target_group and the SCIM Group's externalId. A group that leaves the mapping is released:
-- managed = false, released_at set; credsync stops writing it and leaves it in the LMS as it is
-- (docs/groups.md, "Groups that leave the mapping").
CREATE TABLE IF NOT EXISTS core.scim_groups (
    tenant_id           text NOT NULL,
    group_key           text NOT NULL,
    display_name        text NOT NULL,
    rule_id             text NOT NULL,  -- the mapping rule that defines it (first, when several do)
    scim_id             text,          -- NULL until the group is created (or adopted) in the LMS
    mapping_version     text NOT NULL,
    managed             boolean NOT NULL DEFAULT true,
    released_at         timestamptz,
    desired_hash        text,          -- hash of the desired member list at the last push
    synced_hash         text,          -- desired_hash the LMS matched after the last push
    synced_at           timestamptz,
    resync_requested_at timestamptz,   -- set by reconciliation: re-read the LMS group and converge
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, group_key)
);
CREATE UNIQUE INDEX IF NOT EXISTS scim_groups_scim_id ON core.scim_groups (tenant_id, scim_id)
    WHERE scim_id IS NOT NULL;

-- Desired membership: which worker belongs to which managed group, and by which mapping rules.
-- Derived (credsync.groups.membership) from core.workers, core.idp_claims and the mapping.
CREATE TABLE IF NOT EXISTS core.group_memberships (
    tenant_id       text NOT NULL,
    group_key       text NOT NULL,
    employee_id     text NOT NULL,
    rule_ids        text[] NOT NULL,
    mapping_version text NOT NULL,
    since           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, group_key, employee_id)
);
CREATE INDEX IF NOT EXISTS group_memberships_worker ON core.group_memberships (tenant_id, employee_id);

-- Every group write with its outcome (create, add, remove, adopt, release), for audit and tests.
CREATE TABLE IF NOT EXISTS core.group_actions (
    action_id    bigserial PRIMARY KEY,
    tenant_id    text NOT NULL,
    group_key    text NOT NULL,
    scim_id      text,
    action       text NOT NULL CHECK (action IN ('create', 'adopt', 'add', 'remove', 'release')),
    employee_ids text[] NOT NULL DEFAULT '{}',
    outcome      text NOT NULL CHECK (outcome IN ('ok', 'failed')),
    http_status  integer,
    detail       text,
    dag_run_id   text,
    acted_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS group_actions_group ON core.group_actions (tenant_id, group_key, acted_at);

-- What reconciliation listed of the LMS groups (one row per member; a memberless group has one
-- row with member_scim_id NULL). Replaced per tenant by each listing.
CREATE TABLE IF NOT EXISTS staging.lms_group_members (
    snapshot_id    uuid NOT NULL,
    tenant_id      text NOT NULL,
    group_scim_id  text NOT NULL,
    group_external text,
    display_name   text,
    member_scim_id text
);
CREATE INDEX IF NOT EXISTS lms_group_members_snapshot ON staging.lms_group_members (tenant_id, snapshot_id);
