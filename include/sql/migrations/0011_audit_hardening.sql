-- 0011_audit_hardening: the audit chain cannot be emptied or rewritten by the pipeline's own role,
-- and analysts learn only their own tenants.
--
-- Roles are cluster-wide and several databases migrate in parallel on one server (tests), so each
-- CREATE ROLE is guarded twice: by the existence check and by catching the concurrent duplicate.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_audit_owner') THEN
        -- Owns the chain; nobody logs in as it and no pipeline role is a member of it.
        CREATE ROLE credsync_audit_owner NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created concurrently by another database's migration
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'credsync_runtime') THEN
        -- The privileges a DAG task needs. A deployment's warehouse Connection logs in as a
        -- non-superuser member of it (CREATE ROLE airflow_etl LOGIN PASSWORD '...' IN ROLE
        -- credsync_runtime); NOLOGIN so that a trust/peer pg_hba line never opens it to anyone.
        CREATE ROLE credsync_runtime NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;

-- TRUNCATE fires no row trigger, so the append-only row trigger never saw it.
CREATE OR REPLACE FUNCTION audit.events_no_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.events is append-only (TRUNCATE refused)'
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DROP TRIGGER IF EXISTS events_no_truncate ON audit.events;
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.events_no_truncate();

-- ALWAYS: the triggers fire under session_replication_role = replica too, which otherwise
-- switches them off for anyone allowed to set it.
ALTER TABLE audit.events ENABLE ALWAYS TRIGGER events_append_only;
ALTER TABLE audit.events ENABLE ALWAYS TRIGGER events_no_truncate;

-- Ownership is what lets a role disable triggers, drop the table or grant itself UPDATE; the
-- pipeline's role must not have it. (ALTER TABLE moves the event_id sequence along.)
ALTER TABLE audit.events OWNER TO credsync_audit_owner;
ALTER FUNCTION audit.events_append_only() OWNER TO credsync_audit_owner;
ALTER FUNCTION audit.events_no_truncate() OWNER TO credsync_audit_owner;
REVOKE ALL ON audit.events FROM PUBLIC;

-- The runtime role: full DML on the pipeline's schemas, but only SELECT and INSERT on the chain.
GRANT USAGE ON SCHEMA staging, core, recon, audit TO credsync_runtime;
GRANT CREATE ON SCHEMA staging TO credsync_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA staging, core, recon TO credsync_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA audit TO credsync_runtime;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA staging, core, recon, audit TO credsync_runtime;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA core, recon TO credsync_runtime;
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit.events FROM credsync_runtime;
GRANT SELECT, INSERT ON audit.events TO credsync_runtime;
-- migrate_warehouse runs as the runtime role too: at head it only reads the version.
DO $$
BEGIN
    IF to_regclass('audit.alembic_version') IS NOT NULL THEN
        REVOKE INSERT, UPDATE, DELETE ON audit.alembic_version FROM credsync_runtime;
    END IF;
END $$;
-- Tables later migrations create (as the migrating role) get the same runtime grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA staging, core, recon
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO credsync_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA audit GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO credsync_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA staging, core, recon, audit
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO credsync_runtime;

-- ---------------------------------------------------------------------------
-- Analyst RLS: recon.visible_tenants(p_role) was SECURITY DEFINER and executable by every
-- analyst with any role name, so `SELECT recon.visible_tenants('their_role')` listed another
-- role's tenants. The mapping table now has its own policy (a role reads only the mapping rows
-- of roles it belongs to) and the function takes no argument and runs as the caller.
-- ---------------------------------------------------------------------------
DROP POLICY IF EXISTS findings_by_tenant ON recon.findings;
DROP POLICY IF EXISTS runs_by_tenant ON recon.runs;
DROP POLICY IF EXISTS run_comparisons_by_tenant ON recon.run_comparisons;
DROP POLICY IF EXISTS alerts_by_tenant ON recon.alerts;
DROP FUNCTION IF EXISTS recon.visible_tenants(name);

ALTER TABLE recon.analyst_tenants ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS analyst_tenants_own ON recon.analyst_tenants;
-- The join on pg_roles skips mapping rows for roles that do not exist (pg_has_role would raise).
CREATE POLICY analyst_tenants_own ON recon.analyst_tenants FOR SELECT
    USING (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                   WHERE r.rolname = analyst_tenants.role_name
                     AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));
GRANT SELECT ON recon.analyst_tenants TO credsync_analyst;

-- Tenants the calling role may read: mapped to it or to a role it belongs to. SECURITY INVOKER,
-- so the analyst_tenants policy above applies to whoever calls it.
CREATE FUNCTION recon.visible_tenants() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, recon AS $$
    SELECT DISTINCT a.tenant_id
    FROM recon.analyst_tenants a
    JOIN pg_roles r ON r.rolname = a.role_name
    WHERE pg_has_role(current_user, r.oid, 'MEMBER');
$$;
REVOKE ALL ON FUNCTION recon.visible_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recon.visible_tenants() TO credsync_analyst, credsync_runtime;

CREATE POLICY findings_by_tenant ON recon.findings FOR SELECT
    USING (tenant_id IN (SELECT recon.visible_tenants()));
CREATE POLICY runs_by_tenant ON recon.runs FOR SELECT
    USING (tenant_id IN (SELECT recon.visible_tenants()));
CREATE POLICY run_comparisons_by_tenant ON recon.run_comparisons FOR SELECT
    USING (tenant_id IN (SELECT recon.visible_tenants()));
CREATE POLICY alerts_by_tenant ON recon.alerts FOR SELECT
    USING (tenant_id IN (SELECT recon.visible_tenants()));

-- The pipeline writes every tenant's recon rows; as a non-owner it is subject to RLS too.
DROP POLICY IF EXISTS findings_runtime ON recon.findings;
DROP POLICY IF EXISTS runs_runtime ON recon.runs;
DROP POLICY IF EXISTS run_comparisons_runtime ON recon.run_comparisons;
DROP POLICY IF EXISTS alerts_runtime ON recon.alerts;
CREATE POLICY findings_runtime ON recon.findings TO credsync_runtime USING (true) WITH CHECK (true);
CREATE POLICY runs_runtime ON recon.runs TO credsync_runtime USING (true) WITH CHECK (true);
CREATE POLICY run_comparisons_runtime ON recon.run_comparisons TO credsync_runtime USING (true) WITH CHECK (true);
CREATE POLICY alerts_runtime ON recon.alerts TO credsync_runtime USING (true) WITH CHECK (true);
