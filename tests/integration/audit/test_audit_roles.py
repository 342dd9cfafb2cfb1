"""Who may do what to audit.events: the runtime role appends and reads only; nobody truncates.

The runtime role is a LOGIN member of credsync_runtime, as a deployment's warehouse connection
would be (the tests and the demo otherwise connect as the superuser, which ownership cannot stop).
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from credsync.audit import append_event, dead_letter, verify_chain
from credsync.recon.alerts import record_alert
from credsync.warehouse import connect

from .conftest import append


@pytest.fixture
def runtime_url(fresh_warehouse_url):
    """A login role in credsync_runtime (trust auth on loopback), dropped afterwards."""
    role = "runtime_" + uuid.uuid4().hex[:8]
    with connect(fresh_warehouse_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN IN ROLE credsync_runtime')
        try:
            yield psycopg.conninfo.make_conninfo(fresh_warehouse_url, user=role)
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


REFUSED = [
    "UPDATE audit.events SET entity_key = 'x'",
    "DELETE FROM audit.events",
    "TRUNCATE audit.events",
    "ALTER TABLE audit.events DISABLE TRIGGER events_append_only",
    "ALTER TABLE audit.events OWNER TO CURRENT_USER",
    "DROP TABLE audit.events",
    "SET session_replication_role = replica",
    "SET ROLE credsync_audit_owner",
]


def test_the_chain_is_owned_by_a_role_nobody_uses(fresh_warehouse_url):
    with connect(fresh_warehouse_url) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'audit'"
                             " AND tablename = 'events'").fetchone()[0]
        login, members = conn.execute(
            "SELECT r.rolcanlogin, (SELECT count(*) FROM pg_auth_members m WHERE m.roleid = r.oid)"
            " FROM pg_roles r WHERE r.rolname = 'credsync_audit_owner'").fetchone()
        runtime_in_owner = conn.execute(
            "SELECT pg_has_role('credsync_runtime', 'credsync_audit_owner', 'MEMBER')").fetchone()[0]
    assert owner == "credsync_audit_owner"
    assert (login, members, runtime_in_owner) == (False, 0, False)


def test_the_runtime_role_appends_reads_and_verifies(runtime_url):
    with connect(runtime_url) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0] is False
        append_event(conn, tenant_id="acme", event_type="credential.issued", entity_type="credential",
                     entity_key="c1", detail={"n": 1})
        dead_letter(conn, tenant_id="acme", source="registry", entity_key="c1", reason="registry_rejected_422",
                    detail={"status": 422}, payload=None)
        conn.commit()
        report = verify_chain(conn, "acme")
    assert report.ok and report.checked == 2
    # The recon tables' row-level security lets the pipeline write and read every tenant.
    record_alert(runtime_url, tenant_id="acme", message="gate failed: drift", dag_id="reconciliation")
    with connect(runtime_url) as conn:
        assert conn.execute("SELECT count(*) FROM recon.alerts WHERE tenant_id = 'acme'").fetchone()[0] == 1


@pytest.mark.parametrize("statement", REFUSED)
def test_the_runtime_role_cannot_rewrite_or_unprotect_the_chain(fresh_warehouse_url, runtime_url, statement):
    append(fresh_warehouse_url, "acme", 3)
    with psycopg.connect(runtime_url, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)
    with connect(fresh_warehouse_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit.events").fetchone()[0] == 3
        assert verify_chain(conn).ok


def test_even_the_superuser_path_cannot_truncate_or_edit_through_replica_mode(fresh_warehouse_url):
    append(fresh_warehouse_url, "acme", 3)
    with connect(fresh_warehouse_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="TRUNCATE refused"):
            conn.execute("TRUNCATE audit.events")
        # Replica mode used to switch the append-only trigger off; the triggers now fire ALWAYS.
        conn.execute("SET session_replication_role = replica")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("UPDATE audit.events SET entity_key = 'x'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="TRUNCATE refused"):
            conn.execute("TRUNCATE audit.events")
        assert conn.execute("SELECT count(*) FROM audit.events").fetchone()[0] == 3
