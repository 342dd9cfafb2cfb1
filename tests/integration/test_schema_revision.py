"""Migrations are a deploy step: pipelines and the webhook receiver only check the schema revision.

Real Postgres throughout: a warehouse one revision behind the code, the documented command that
migrates it, the DAG tasks as the workers run them, the receiver as the api-server serves it, and
the runtime role (a non-superuser member of credsync_runtime) that reads the revision without DDL.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from credsync.people.webhooks import sign
from credsync.warehouse import SchemaBehind, SchemaMismatch, check_schema, connect, head_revision, migrate
from credsync.warehouse.revision import MIGRATE_COMMAND, current_revision
from credsync_dev.localenv.airflow_env import warehouse_connection_env

from .people.test_hris_webhooks import compact, post_event, serve

ROOT = Path(__file__).resolve().parents[2]
PREVIOUS = "0010_learning_hardening"
HEAD = "0029_career_path_eligibility"


@pytest.fixture
def empty_url(postgres_server) -> Iterator[str]:
    name = postgres_server.temporary_database_name("credsync_rev")
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def behind_url(empty_url) -> str:
    """A warehouse migrated by the previous release: one revision behind this code."""
    assert migrate(empty_url, PREVIOUS) == PREVIOUS
    return empty_url


@pytest.fixture
def warehouse_conn(behind_url, monkeypatch) -> str:
    """``credsync_warehouse`` pointing at the behind warehouse, as a deployment configures it."""
    for name, value in warehouse_connection_env(behind_url).items():
        monkeypatch.setenv(name, value)
    return behind_url


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    return subprocess.run([sys.executable, "-m", "credsync.warehouse", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, check=False)


def load_dag_module(name: str):
    spec = importlib.util.spec_from_file_location(f"dag_{name}", ROOT / "dags" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_head_is_the_newest_migration():
    assert head_revision() == HEAD


def test_check_names_both_revisions_and_the_command_when_behind(behind_url):
    with pytest.raises(SchemaBehind) as caught:
        check_schema(behind_url, where="warehouse (connection credsync_warehouse)")
    message = str(caught.value)
    assert f"is at schema revision {PREVIOUS}" in message and HEAD in message and MIGRATE_COMMAND in message
    assert current_revision(behind_url) == PREVIOUS, "the check must not migrate"


def test_check_on_a_database_never_migrated(empty_url):
    with pytest.raises(SchemaBehind, match="has no credsync schema"):
        check_schema(empty_url)
    with connect(empty_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'audit'").fetchone()[0] == 0


def test_pipeline_task_fails_until_the_documented_command_migrates(warehouse_conn):
    from credsync.dagkit import check_warehouse_schema

    with pytest.raises(SchemaBehind, match=f"{PREVIOUS}.*{HEAD}"):
        check_warehouse_schema.function()

    checked = cli("check", "--conn-id", "credsync_warehouse")
    assert checked.returncode == 1 and f"at schema revision {PREVIOUS}" in checked.stderr

    migrated = cli("migrate", "--conn-id", "credsync_warehouse")
    assert migrated.returncode == 0, migrated.stderr
    assert f"migrated from {PREVIOUS} to {HEAD} (head)" in migrated.stdout
    assert check_warehouse_schema.function() == HEAD
    again = cli("migrate", "--url", warehouse_conn)
    assert again.returncode == 0 and f"already at schema revision {HEAD}" in again.stdout
    assert cli("check", "--url", warehouse_conn).returncode == 0


def test_warehouse_migrate_dag_task_migrates_through_its_connection_param(warehouse_conn, monkeypatch):
    # A second, privileged connection, as the DAG's doc advises; the runtime one stays untouched.
    monkeypatch.setenv("AIRFLOW_CONN_CREDSYNC_WAREHOUSE_ADMIN", os.environ["AIRFLOW_CONN_CREDSYNC_WAREHOUSE"])
    module = load_dag_module("warehouse_migrate")
    assert module.migrate_schema.function(params={"conn_id": "credsync_warehouse_admin"}) == HEAD
    assert module.migrate_schema.function(params={"conn_id": "credsync_warehouse_admin"}) == HEAD
    assert current_revision(warehouse_conn) == HEAD


def test_webhook_receiver_answers_503_until_migrated_then_works_without_restart(warehouse_conn):
    from credsync.people.webhook_app import create_app

    body = compact({"event_id": "evt-rev-1", "type": "worker.terminated", "tenant_id": "acme",
                    "employee_id": "E1", "occurred_at": "2026-01-05T08:00:00Z"})
    with serve(create_app()) as url:
        refused = post_event(url, "acme", body, sign("any-secret", body, int(time.time())))
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        answer = refused.json()
        assert answer["reason"] == "schema_behind"
        assert PREVIOUS in answer["detail"] and HEAD in answer["detail"] and MIGRATE_COMMAND in answer["detail"]
        assert current_revision(warehouse_conn) == PREVIOUS, "the receiver must not migrate"

        migrate(warehouse_conn)
        # Built now: no hris_acme connection here, so the tenant is unknown (404), not a schema problem.
        after = post_event(url, "acme", body, sign("any-secret", body, int(time.time())))
        assert after.status_code == 404, after.text


@pytest.fixture
def runtime_role_url(empty_url) -> Iterator[tuple[str, str]]:
    """(admin URL, runtime URL): a migrated warehouse and a LOGIN member of credsync_runtime."""
    migrate(empty_url)
    role = "runtime_" + uuid.uuid4().hex[:8]
    with connect(empty_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN IN ROLE credsync_runtime')
        try:
            yield empty_url, psycopg.conninfo.make_conninfo(empty_url, user=role)
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def test_the_runtime_role_checks_without_ddl_rights(runtime_role_url):
    admin_url, runtime_url = runtime_role_url
    assert check_schema(runtime_url) == HEAD
    with connect(runtime_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE TABLE core.runtime_may_not_create (tenant_id text)")
    # Code one migration ahead of the warehouse, seen by the runtime role: a clear refusal, nothing changed.
    with connect(admin_url) as conn:
        conn.execute("UPDATE audit.alembic_version SET version_num = %s", (PREVIOUS,))
    with pytest.raises(SchemaBehind, match=f"{PREVIOUS}.*{HEAD}"):
        check_schema(runtime_url)


def test_a_role_outside_credsync_runtime_is_told_what_it_lacks(runtime_role_url):
    admin_url, _ = runtime_role_url
    role = "outsider_" + uuid.uuid4().hex[:8]
    with connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            with pytest.raises(SchemaMismatch, match=r"may not read audit\.alembic_version.*credsync_runtime"):
                check_schema(psycopg.conninfo.make_conninfo(admin_url, user=role))
        finally:
            admin.execute(f'DROP ROLE "{role}"')


def test_connection_extras_reach_the_server(warehouse_conn, monkeypatch):
    """application_name and options from the Connection's extras are what the session runs with."""
    from credsync.warehouse import url_from_connection

    conn = json.loads(os.environ["AIRFLOW_CONN_CREDSYNC_WAREHOUSE"])
    conn["extra"] = {"application_name": "credsync etl", "options": "-c statement_timeout=4321",
                     "connect_timeout": 5, "sslmode": "disable"}
    monkeypatch.setenv("AIRFLOW_CONN_CREDSYNC_WAREHOUSE", json.dumps(conn))
    with connect(url_from_connection()) as session:
        seen = session.execute("SELECT current_setting('application_name'), current_setting('statement_timeout'),"
                               " (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())").fetchone()
    assert seen == ("credsync etl", "4321ms", False)


def test_sslmode_require_is_honoured(warehouse_conn, monkeypatch):
    """``sslmode=require`` used to be dropped: the session went out in plain text without a word."""
    from credsync.warehouse import url_from_connection

    conn = json.loads(os.environ["AIRFLOW_CONN_CREDSYNC_WAREHOUSE"])
    monkeypatch.setenv("AIRFLOW_CONN_CREDSYNC_WAREHOUSE", json.dumps({**conn, "extra": {"sslmode": "require"}}))
    url = url_from_connection()
    if conn["host"].startswith("/"):
        # libpq never uses TLS over a Unix socket (the embedded Postgres): what can be checked there is
        # that the setting reached libpq rather than being dropped on the way.
        with connect(url) as session:
            assert session.info.get_parameters().get("sslmode") == "require"
        return
    try:
        with connect(url) as session:
            encrypted = session.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]
    except psycopg.OperationalError as exc:
        assert "SSL" in str(exc), exc  # this server speaks no TLS, so a required TLS session is refused
    else:
        assert encrypted is True
